import { defineQuery, defineSignal } from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { CheckoutView, PaymentOrderView } from '../domain/checkout';

/** Signals, queries and search attributes shared by the workflows, the API and the Temporal CLI. */

export const checkoutStatusQuery = defineQuery<CheckoutView>('status');
export const paymentOrderStatusQuery = defineQuery<PaymentOrderView>('status');

export interface AuthorizationReport {
  paymentOrderId: string;
  outcome: 'authorized' | 'failed';
  pspReference: string | null;
  failureCode?: string;
}

/** A payment order tells its checkout how its authorization went. */
export const authorizationReportSignal = defineSignal<[AuthorizationReport]>('authorizationReport');

/** The checkout tells an authorized payment order to capture, or to release its hold. */
export const captureSignal = defineSignal('capture');
export const voidSignal = defineSignal('void');

export const CheckoutStatusAttribute = defineSearchAttributeKey('CheckoutStatus', 'KEYWORD');
export const CustomerIdAttribute = defineSearchAttributeKey('CustomerId', 'KEYWORD');
export const SEARCH_ATTRIBUTES = [CheckoutStatusAttribute, CustomerIdAttribute];

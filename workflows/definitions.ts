import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { CheckoutView, PaymentOrderView } from '../domain/checkout';
import type { Failure } from '../domain/failures';

/** Signals, queries, updates and search attributes shared by the workflows, the API and the Temporal CLI. */

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

/**
 * To a manual-capture checkout: capture (`temporal workflow signal --name capture`). To a payment order:
 * capture now, from its own checkout only (the checkout names its run; any other capture is ignored, so an
 * order is never captured behind its checkout's back).
 */
export interface CaptureOrder {
  checkoutRunId: string;
}
export const captureSignal = defineSignal<[CaptureOrder?]>('capture');

/** To a payment order: release the hold (or give up authorizing), for the reason given. */
export const releaseSignal = defineSignal<[Failure]>('release');

/** To a payment order: the PSP reported a change (a webhook); look again. */
export interface PspEvent {
  eventId: string;
  type: string;
}
export const pspEventSignal = defineSignal<[PspEvent]>('pspEvent');

export interface CancelRequest {
  reason?: string;
}

/** To a checkout, from a shell: `temporal workflow signal --workflow-id checkout-<id> --name cancel --input '{"reason":"..."}'`. */
export const cancelSignal = defineSignal<[CancelRequest?]>('cancel');

/**
 * To a finished checkout's compensation (`compensation-<checkoutId>`): try the refused voids and refunds
 * again now. From a shell: `temporal workflow signal --workflow-id compensation-<id> --name retryCompensation`.
 */
export const retryCompensationSignal = defineSignal('retryCompensation');

/** The API's cancel and capture: an update, so a checkout that can no longer do it says so (409). */
export const cancelUpdate = defineUpdate<CheckoutView, [CancelRequest]>('requestCancel');
export const captureUpdate = defineUpdate<CheckoutView, []>('requestCapture');

/** The failure types of a refused update, mapped to HTTP 409 by the API. */
export const NOT_CANCELABLE = 'CheckoutNotCancelable';
export const NOT_CAPTURABLE = 'CheckoutNotCapturable';

export const CheckoutStatusAttribute = defineSearchAttributeKey('CheckoutStatus', 'KEYWORD');
export const CustomerIdAttribute = defineSearchAttributeKey('CustomerId', 'KEYWORD');
export const SEARCH_ATTRIBUTES = [CheckoutStatusAttribute, CustomerIdAttribute];

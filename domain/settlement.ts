import { isCurrency } from './money';

/** The columns of a settlement file: Stripe's itemized balance report, plus Settle's payment order id. */
export const SETTLEMENT_COLUMNS = [
  'balance_transaction_id',
  'created_utc',
  'currency',
  'gross',
  'fee',
  'net',
  'reporting_category',
  'payment_intent_id',
  'payment_order_id',
] as const;

export const SETTLEMENT_HEADER = SETTLEMENT_COLUMNS.join(',');

export interface SettlementRow {
  balanceTransactionId: string;
  createdUtc: Date;
  currency: string;
  gross: number;
  fee: number;
  net: number;
  reportingCategory: 'charge' | 'refund';
  paymentIntentId: string;
  paymentOrderId: string;
}

export const DISCREPANCY_CLASSES = [
  'missing_in_ledger',
  'missing_in_psp',
  'amount_mismatch',
  'fee_mismatch',
  'currency_mismatch',
  'duplicate',
  'status_mismatch',
] as const;
export type DiscrepancyClass = (typeof DISCREPANCY_CLASSES)[number];

/** A line that is not a settlement row, with why; the run fails naming it. */
export class MalformedSettlementLine extends Error {
  override name = 'MalformedSettlementLine';
  constructor(
    readonly lineNo: number,
    readonly reason: string,
  ) {
    super(`line ${lineNo}: ${reason}`);
  }
}

const INTEGER = /^-?\d{1,15}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z?$/;
const ID = /^[A-Za-z0-9_]{1,255}$/;

export function formatSettlementRow(row: SettlementRow): string {
  return [
    row.balanceTransactionId,
    row.createdUtc.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    row.currency.toLowerCase(),
    row.gross,
    row.fee,
    row.net,
    row.reportingCategory,
    row.paymentIntentId,
    row.paymentOrderId,
  ].join(',');
}

/** Parses one data line (1-based line numbers count the header as line 1). */
export function parseSettlementLine(line: string, lineNo: number): SettlementRow {
  const fields = line.split(',');
  if (fields.length !== SETTLEMENT_COLUMNS.length) {
    throw new MalformedSettlementLine(lineNo, `expected ${SETTLEMENT_COLUMNS.length} fields, found ${fields.length} (truncated line?)`);
  }
  const [id, created, currency, gross, fee, net, category, intent, order] = fields as [string, string, string, string, string, string, string, string, string];
  if (!ID.test(id)) throw new MalformedSettlementLine(lineNo, `balance_transaction_id is not an id: '${id}'`);
  if (!TIMESTAMP.test(created) || Number.isNaN(Date.parse(created.endsWith('Z') ? created : `${created}Z`))) {
    throw new MalformedSettlementLine(lineNo, `created_utc is not a UTC timestamp: '${created}'`);
  }
  const code = currency.toUpperCase();
  if (!isCurrency(code)) throw new MalformedSettlementLine(lineNo, `unknown currency '${currency}'`);
  for (const [name, value] of [['gross', gross], ['fee', fee], ['net', net]] as const) {
    if (!INTEGER.test(value)) throw new MalformedSettlementLine(lineNo, `${name} is not an integer amount of minor units: '${value}'`);
  }
  if (Number(gross) - Number(fee) !== Number(net)) throw new MalformedSettlementLine(lineNo, `net ${net} is not gross ${gross} minus fee ${fee}`);
  if (category !== 'charge' && category !== 'refund') {
    throw new MalformedSettlementLine(lineNo, `reporting_category must be charge or refund, not '${category}'`);
  }
  if (!ID.test(intent)) throw new MalformedSettlementLine(lineNo, `payment_intent_id is not an id: '${intent}'`);
  if (!ID.test(order)) throw new MalformedSettlementLine(lineNo, `payment_order_id is not an id: '${order}'`);
  return {
    balanceTransactionId: id,
    createdUtc: new Date(created.endsWith('Z') ? created : `${created}Z`),
    currency: code,
    gross: Number(gross),
    fee: Number(fee),
    net: Number(net),
    reportingCategory: category,
    paymentIntentId: intent,
    paymentOrderId: order,
  };
}

/** The UTC day a run reconciles, as [start, end). */
export function settlementDay(date: string): { start: Date; end: Date } {
  const start = new Date(`${date}T00:00:00Z`);
  return { start, end: new Date(start.getTime() + 24 * 60 * 60 * 1000) };
}

export const SETTLEMENT_DATE = /^\d{4}-\d{2}-\d{2}$/;

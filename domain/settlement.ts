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
/** The shape of a well-formed line, in one pass; a line it refuses is read again field by field to name what is wrong. */
const WELL_FORMED =
  /^([A-Za-z0-9_]{1,255}),([^,]*),([^,]*),(-?\d{1,15}),(-?\d{1,15}),(-?\d{1,15}),(charge|refund),([A-Za-z0-9_]{1,255}),([A-Za-z0-9_]{1,255})$/;

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

/** A data line, checked: a SettlementRow whose timestamp is the ISO 8601 text of its UTC instant (as toISOString writes it). */
export type SettlementLine = Omit<SettlementRow, 'createdUtc'> & { createdUtc: string };

/** Parses one data line (1-based line numbers count the header as line 1). */
export function parseSettlementLine(line: string, lineNo: number): SettlementRow {
  const checked = readSettlementLine(line, lineNo);
  return { ...checked, createdUtc: new Date(checked.createdUtc) };
}

/** Checks one data line (1-based line numbers count the header as line 1), throwing MalformedSettlementLine naming the first field at fault. */
export function readSettlementLine(line: string, lineNo: number): SettlementLine {
  const match = WELL_FORMED.exec(line);
  const createdUtc = match && utcInstant(match[2]!);
  const currency = match && currencyCode(match[3]!);
  if (!match || !createdUtc || !currency) return readFieldByField(line, lineNo);
  const gross = Number(match[4]);
  const fee = Number(match[5]);
  const net = Number(match[6]);
  if (gross - fee !== net) return readFieldByField(line, lineNo);
  return {
    balanceTransactionId: match[1]!,
    createdUtc,
    currency,
    gross,
    fee,
    net,
    reportingCategory: match[7] as 'charge' | 'refund',
    paymentIntentId: match[8]!,
    paymentOrderId: match[9]!,
  };
}

function readFieldByField(line: string, lineNo: number): SettlementLine {
  const fields = line.split(',');
  if (fields.length !== SETTLEMENT_COLUMNS.length) {
    throw new MalformedSettlementLine(lineNo, `expected ${SETTLEMENT_COLUMNS.length} fields, found ${fields.length} (truncated line?)`);
  }
  const [id, created, currency, gross, fee, net, category, intent, order] = fields as [string, string, string, string, string, string, string, string, string];
  if (!ID.test(id)) throw new MalformedSettlementLine(lineNo, `balance_transaction_id is not an id: '${id}'`);
  const createdUtc = utcInstant(created);
  if (!createdUtc) throw new MalformedSettlementLine(lineNo, `created_utc is not a UTC timestamp: '${created}'`);
  const code = currencyCode(currency);
  if (!code) throw new MalformedSettlementLine(lineNo, `unknown currency '${currency}'`);
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
    createdUtc,
    currency: code,
    gross: Number(gross),
    fee: Number(fee),
    net: Number(net),
    reportingCategory: category,
    paymentIntentId: intent,
    paymentOrderId: order,
  };
}

// A file lists its rows in time order, many to a second, in one or a few currencies: the last answer is kept.
let lastTimestamp = { text: '', instant: '' };
let lastCurrency = { text: '', code: '' };

/** The instant a created_utc field names, as ISO 8601 UTC text; undefined if it names none. */
function utcInstant(text: string): string | undefined {
  if (text === lastTimestamp.text) return lastTimestamp.instant;
  if (!TIMESTAMP.test(text)) return undefined;
  const ms = Date.parse(text.endsWith('Z') ? text : `${text}Z`);
  if (Number.isNaN(ms)) return undefined;
  lastTimestamp = { text, instant: new Date(ms).toISOString() };
  return lastTimestamp.instant;
}

/** A currency field's ISO 4217 code; undefined for an unknown currency. */
function currencyCode(text: string): string | undefined {
  if (text === lastCurrency.text) return lastCurrency.code;
  const code = text.toUpperCase();
  if (!isCurrency(code)) return undefined;
  lastCurrency = { text, code };
  return code;
}

/** The UTC day a run reconciles, as [start, end). */
export function settlementDay(date: string): { start: Date; end: Date } {
  const start = new Date(`${date}T00:00:00Z`);
  return { start, end: new Date(start.getTime() + 24 * 60 * 60 * 1000) };
}

export const SETTLEMENT_DATE = /^\d{4}-\d{2}-\d{2}$/;

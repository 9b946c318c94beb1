import type { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

/**
 * Registers Settle's search attributes (CheckoutStatus, CustomerId) in the namespace, through the operator
 * API, unless they are there: a cluster that has never seen Settle refuses to start a checkout that sets
 * them. Registering again, or by several workers at once, changes nothing. Answers the names it added.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = SEARCH_ATTRIBUTES.filter((attribute) => !(attribute.name in (customAttributes ?? {})));
  if (missing.length === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((attribute) => [attribute.name, encodeSearchAttributeIndexedValueType(attribute.type)!])),
    });
  } catch (error) {
    // Another worker added them between our look and our add.
    const { customAttributes: now } = await connection.operatorService.listSearchAttributes({ namespace });
    if (!missing.every((attribute) => attribute.name in (now ?? {}))) throw error;
  }
  return missing.map((attribute) => attribute.name);
}

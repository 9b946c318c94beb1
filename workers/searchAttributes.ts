import type { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { ConfigError } from '../config';
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
    const stillMissing = missing.filter((attribute) => !(attribute.name in (now ?? {})));
    if (stillMissing.length > 0) {
      // Temporal Cloud, or a cluster whose operator API this identity may not use: registration is by hand.
      const flags = stillMissing.map((attribute) => `--name ${attribute.name} --type ${typeName(attribute.type)}`).join(' ');
      throw new ConfigError(
        `Settle cannot start: namespace '${namespace}' lacks the search attributes ${stillMissing.map((a) => a.name).join(', ')} ` +
          `and adding them failed (${(error as Error).message}). Register them once, then start again:\n` +
          `  temporal operator search-attribute create --namespace ${namespace} ${flags}\n` +
          `  (on Temporal Cloud, add them in the namespace's settings, or with tcld or Terraform, with the same names and types)`,
      );
    }
    return []; // another worker added them
  }
  return missing.map((attribute) => attribute.name);
}

/** KEYWORD_LIST -> KeywordList, as Temporal's tools spell the types. */
function typeName(type: string): string {
  return type
    .split('_')
    .map((word) => word[0] + word.slice(1).toLowerCase())
    .join('');
}

#!/bin/sh
# What Settle needs of a Temporal cluster that has never seen it: its namespace, and the search attributes
# its workflows set (CheckoutStatus, CustomerId). Each step is skipped or harmless when already done.
set -eu

: "${TEMPORAL_ADDRESS:?is the Temporal frontend, host:port}"
: "${TEMPORAL_NAMESPACE:?is the namespace Settle runs in}"
: "${TEMPORAL_NAMESPACE_RETENTION:?is how long Temporal keeps a closed workflow, such as 72h}"

# Tries a command up to $1 times, two seconds apart.
retry() {
  attempts=$1
  shift
  until "$@"; do
    attempts=$((attempts - 1))
    if [ "$attempts" -le 0 ]; then
      echo "gave up: $*" >&2
      return 1
    fi
    sleep 2
  done
}

retry 60 temporal operator cluster health --address "$TEMPORAL_ADDRESS"

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
  echo "namespace '$TEMPORAL_NAMESPACE' is there"
else
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" \
    --retention "$TEMPORAL_NAMESPACE_RETENTION"
fi

# A namespace just created reaches the frontend's cache within seconds; until then this is refused.
retry 30 temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" \
  --name CheckoutStatus --type Keyword \
  --name CustomerId --type Keyword
echo "namespace '$TEMPORAL_NAMESPACE' has Settle's search attributes"

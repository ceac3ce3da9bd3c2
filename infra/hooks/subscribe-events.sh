#!/bin/sh
# azd postdeploy hook: an Event Grid subscription to an Azure Function can only be created once
# the function exists, so the first `azd up` provisions without it, deploys the app, and this
# hook turns the subscription on and provisions again (idempotent; later runs change nothing).
set -eu

if [ "$(azd env get-value SUBSCRIBE_KEYVAULT_EVENTS 2>/dev/null || true)" = "true" ]; then
  echo "subscribe-events.sh: Key Vault events already subscribed"
  exit 0
fi

azd env set SUBSCRIBE_KEYVAULT_EVENTS true
azd provision --no-prompt

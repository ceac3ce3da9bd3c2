// The custom role keyrelay holds on each managed resource: read it (the local-auth guard),
// list its keys, regenerate one. Nothing else — no write on the resource, no other resource.
//
// `providerActions` is keyed by the kind names of the ARM adapter's provider table (the `kind` of
// a credential in main.bicep's `credentials` parameter, as in policy.toml); each list is what
// that kind calls (ResourceKind::actions). tests/infra_consistency.rs checks it against the table
// (no more, no less per kind). The role carries only the actions of the kinds this deployment
// manages, and is assigned on each managed resource (rotator-assignment.bicep).

targetScope = 'subscription'

@description('Role name, unique in the tenant.')
param roleName string

@description('Provider kinds of the managed credentials (duplicates allowed).')
param kinds array

@description('Scopes the role may be assigned at (the resource groups of the managed resources).')
param assignableScopes array

var providerActions = {
  redis: [
    'Microsoft.Cache/redis/read'
    'Microsoft.Cache/redis/listKeys/action'
    'Microsoft.Cache/redis/regenerateKey/action'
  ]
  'redis-enterprise': [
    'Microsoft.Cache/redisEnterprise/databases/read'
    'Microsoft.Cache/redisEnterprise/databases/listKeys/action'
    'Microsoft.Cache/redisEnterprise/databases/regenerateKey/action'
  ]
  storage: [
    'Microsoft.Storage/storageAccounts/read'
    'Microsoft.Storage/storageAccounts/listKeys/action'
    'Microsoft.Storage/storageAccounts/regenerateKey/action'
  ]
  cosmos: [
    'Microsoft.DocumentDB/databaseAccounts/read'
    'Microsoft.DocumentDB/databaseAccounts/listKeys/action'
    'Microsoft.DocumentDB/databaseAccounts/regenerateKey/action'
  ]
  'cosmos-readonly': [
    'Microsoft.DocumentDB/databaseAccounts/read'
    'Microsoft.DocumentDB/databaseAccounts/readonlykeys/action'
    'Microsoft.DocumentDB/databaseAccounts/regenerateKey/action'
  ]
  'servicebus-rule': [
    'Microsoft.ServiceBus/namespaces/read'
    'Microsoft.ServiceBus/namespaces/AuthorizationRules/listKeys/action'
    'Microsoft.ServiceBus/namespaces/AuthorizationRules/regenerateKeys/action'
    'Microsoft.ServiceBus/namespaces/queues/authorizationRules/listKeys/action'
    'Microsoft.ServiceBus/namespaces/queues/authorizationRules/regenerateKeys/action'
    'Microsoft.ServiceBus/namespaces/topics/authorizationRules/listKeys/action'
    'Microsoft.ServiceBus/namespaces/topics/authorizationRules/regenerateKeys/action'
  ]
  'eventhubs-rule': [
    'Microsoft.EventHub/namespaces/read'
    'Microsoft.EventHub/namespaces/authorizationRules/listKeys/action'
    'Microsoft.EventHub/namespaces/authorizationRules/regenerateKeys/action'
    'Microsoft.EventHub/namespaces/eventhubs/authorizationRules/listKeys/action'
    'Microsoft.EventHub/namespaces/eventhubs/authorizationRules/regenerateKeys/action'
  ]
  'cognitive-services': [
    'Microsoft.CognitiveServices/accounts/read'
    'Microsoft.CognitiveServices/accounts/listKeys/action'
    'Microsoft.CognitiveServices/accounts/regenerateKey/action'
  ]
  'search-admin': [
    'Microsoft.Search/searchServices/read'
    'Microsoft.Search/searchServices/listAdminKeys/action'
    'Microsoft.Search/searchServices/regenerateAdminKey/action'
  ]
  signalr: [
    'Microsoft.SignalRService/signalR/read'
    'Microsoft.SignalRService/signalR/listKeys/action'
    'Microsoft.SignalRService/signalR/regenerateKey/action'
  ]
  webpubsub: [
    'Microsoft.SignalRService/webPubSub/read'
    'Microsoft.SignalRService/webPubSub/listKeys/action'
    'Microsoft.SignalRService/webPubSub/regenerateKey/action'
  ]
  maps: [
    'Microsoft.Maps/accounts/read'
    'Microsoft.Maps/accounts/listKeys/action'
    'Microsoft.Maps/accounts/regenerateKey/action'
  ]
}

// union() of arrays drops duplicates: two credentials of one kind add its actions once.
var actions = union(flatten(map(kinds, kind => providerActions[kind])), [])

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, roleName)
  properties: {
    roleName: roleName
    description: 'keyrelay: read a managed two-key resource, list its keys and regenerate one of them.'
    type: 'customRole'
    permissions: [
      {
        actions: actions
        notActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output roleDefinitionId string = role.id
output actions array = actions

// The custom role keyrelay holds on each managed resource: read it (the local-auth guard),
// list its keys, regenerate one. Nothing else — no write on the resource, no other resource.
//
// `providerActions` is keyed by the ARM resource type, the `kind` of a credential in main.bicep's
// `credentials` parameter. tests/infra_consistency.rs checks it against the provider table of
// the ARM adapter (no more, no less per kind). The role carries only the actions of the kinds
// this deployment manages.

targetScope = 'subscription'

@description('Role name, unique in the tenant.')
param roleName string

@description('ARM resource types of the managed credentials (duplicates allowed).')
param kinds array

@description('Scopes the role may be assigned at (the resource groups of the managed resources).')
param assignableScopes array

var providerActions = {
  'Microsoft.Cache/redis': [
    'Microsoft.Cache/redis/read'
    'Microsoft.Cache/redis/listKeys/action'
    'Microsoft.Cache/redis/regenerateKey/action'
  ]
  'Microsoft.Cache/redisEnterprise/databases': [
    'Microsoft.Cache/redisEnterprise/databases/read'
    'Microsoft.Cache/redisEnterprise/databases/listKeys/action'
    'Microsoft.Cache/redisEnterprise/databases/regenerateKey/action'
  ]
  'Microsoft.Storage/storageAccounts': [
    'Microsoft.Storage/storageAccounts/read'
    'Microsoft.Storage/storageAccounts/listKeys/action'
    'Microsoft.Storage/storageAccounts/regenerateKey/action'
  ]
  'Microsoft.DocumentDB/databaseAccounts': [
    'Microsoft.DocumentDB/databaseAccounts/read'
    'Microsoft.DocumentDB/databaseAccounts/listKeys/action'
    'Microsoft.DocumentDB/databaseAccounts/regenerateKey/action'
  ]
  'Microsoft.ServiceBus/namespaces/AuthorizationRules': [
    'Microsoft.ServiceBus/namespaces/read'
    'Microsoft.ServiceBus/namespaces/authorizationRules/read'
    'Microsoft.ServiceBus/namespaces/authorizationRules/listKeys/action'
    'Microsoft.ServiceBus/namespaces/authorizationRules/regenerateKeys/action'
  ]
  'Microsoft.EventHub/namespaces/authorizationRules': [
    'Microsoft.EventHub/namespaces/read'
    'Microsoft.EventHub/namespaces/authorizationRules/read'
    'Microsoft.EventHub/namespaces/authorizationRules/listKeys/action'
    'Microsoft.EventHub/namespaces/authorizationRules/regenerateKeys/action'
  ]
  'Microsoft.CognitiveServices/accounts': [
    'Microsoft.CognitiveServices/accounts/read'
    'Microsoft.CognitiveServices/accounts/listKeys/action'
    'Microsoft.CognitiveServices/accounts/regenerateKey/action'
  ]
  'Microsoft.Search/searchServices': [
    'Microsoft.Search/searchServices/read'
    'Microsoft.Search/searchServices/listAdminKeys/action'
    'Microsoft.Search/searchServices/regenerateAdminKey/action'
  ]
  'Microsoft.SignalRService/signalR': [
    'Microsoft.SignalRService/signalR/read'
    'Microsoft.SignalRService/signalR/listKeys/action'
    'Microsoft.SignalRService/signalR/regenerateKey/action'
  ]
  'Microsoft.SignalRService/webPubSub': [
    'Microsoft.SignalRService/webPubSub/read'
    'Microsoft.SignalRService/webPubSub/listKeys/action'
    'Microsoft.SignalRService/webPubSub/regenerateKey/action'
  ]
  'Microsoft.Maps/accounts': [
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

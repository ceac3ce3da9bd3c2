// Assigns the keyrelay custom role on one managed resource (deployed into that resource's
// resource group). Bicep needs a typed resource reference as a role assignment's scope, so each
// supported ARM resource type has its own `existing` reference and assignment, enabled by the
// type read from the resource id; exactly one pair is active. The types are those the kinds of
// providerActions (rotator-role.bicep) accept; tests/infra_consistency.rs checks that every one
// of them has its pair here.
//
// Service Bus and Event Hubs rules keep the key-auth switch on their namespace, so for them the
// namespace also gets the built-in Reader role: it reads the namespace's properties, never a
// key (listKeys is an action, not a read), and the custom role stays on the rule alone.

@description('Resource id of the managed resource.')
param resourceId string

@description('Object id of keyrelay\'s identity.')
param principalId string

@description('Resource id of the keyrelay custom role.')
param roleDefinitionId string

// /subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}[/{type}/{name}[/{type}/{name}]]
var segments = split(resourceId, '/')
var depth = (length(segments) - 7) / 2
var resourceType = toLower(depth == 1 ? '${segments[6]}/${segments[7]}' : depth == 2 ? '${segments[6]}/${segments[7]}/${segments[9]}' : '${segments[6]}/${segments[7]}/${segments[9]}/${segments[11]}')
var resourceName = depth == 1 ? segments[8] : depth == 2 ? '${segments[8]}/${segments[10]}' : '${segments[8]}/${segments[10]}/${segments[12]}'
var assignmentName = guid(resourceId, principalId, roleDefinitionId)
var onNamespaceRule = startsWith(resourceType, 'microsoft.servicebus/namespaces/') || startsWith(resourceType, 'microsoft.eventhub/namespaces/')
var readerRole = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource redis 'Microsoft.Cache/redis@2024-11-01' existing = if (resourceType == 'microsoft.cache/redis') {
  name: resourceName
}

resource redisAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.cache/redis') {
  name: assignmentName
  scope: redis
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource redisEnterpriseDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-04-01' existing = if (resourceType == 'microsoft.cache/redisenterprise/databases') {
  name: resourceName
}

resource redisEnterpriseDatabaseAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.cache/redisenterprise/databases') {
  name: assignmentName
  scope: redisEnterpriseDatabase
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = if (resourceType == 'microsoft.storage/storageaccounts') {
  name: resourceName
}

resource storageAccountAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.storage/storageaccounts') {
  name: assignmentName
  scope: storageAccount
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource cosmosAccount 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = if (resourceType == 'microsoft.documentdb/databaseaccounts') {
  name: resourceName
}

resource cosmosAccountAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.documentdb/databaseaccounts') {
  name: assignmentName
  scope: cosmosAccount
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource serviceBusRule 'Microsoft.ServiceBus/namespaces/AuthorizationRules@2024-01-01' existing = if (resourceType == 'microsoft.servicebus/namespaces/authorizationrules') {
  name: resourceName
}

resource serviceBusRuleAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.servicebus/namespaces/authorizationrules') {
  name: assignmentName
  scope: serviceBusRule
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource serviceBusQueueRule 'Microsoft.ServiceBus/namespaces/queues/authorizationRules@2024-01-01' existing = if (resourceType == 'microsoft.servicebus/namespaces/queues/authorizationrules') {
  name: resourceName
}

resource serviceBusQueueRuleAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.servicebus/namespaces/queues/authorizationrules') {
  name: assignmentName
  scope: serviceBusQueueRule
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource serviceBusTopicRule 'Microsoft.ServiceBus/namespaces/topics/authorizationRules@2024-01-01' existing = if (resourceType == 'microsoft.servicebus/namespaces/topics/authorizationrules') {
  name: resourceName
}

resource serviceBusTopicRuleAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.servicebus/namespaces/topics/authorizationrules') {
  name: assignmentName
  scope: serviceBusTopicRule
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource eventHubsRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' existing = if (resourceType == 'microsoft.eventhub/namespaces/authorizationrules') {
  name: resourceName
}

resource eventHubsRuleAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.eventhub/namespaces/authorizationrules') {
  name: assignmentName
  scope: eventHubsRule
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource eventHubRule 'Microsoft.EventHub/namespaces/eventhubs/authorizationRules@2024-01-01' existing = if (resourceType == 'microsoft.eventhub/namespaces/eventhubs/authorizationrules') {
  name: resourceName
}

resource eventHubRuleAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.eventhub/namespaces/eventhubs/authorizationrules') {
  name: assignmentName
  scope: eventHubRule
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource cognitiveAccount 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = if (resourceType == 'microsoft.cognitiveservices/accounts') {
  name: resourceName
}

resource cognitiveAccountAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.cognitiveservices/accounts') {
  name: assignmentName
  scope: cognitiveAccount
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource searchService 'Microsoft.Search/searchServices@2023-11-01' existing = if (resourceType == 'microsoft.search/searchservices') {
  name: resourceName
}

resource searchServiceAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.search/searchservices') {
  name: assignmentName
  scope: searchService
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource signalR 'Microsoft.SignalRService/signalR@2024-03-01' existing = if (resourceType == 'microsoft.signalrservice/signalr') {
  name: resourceName
}

resource signalRAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.signalrservice/signalr') {
  name: assignmentName
  scope: signalR
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' existing = if (resourceType == 'microsoft.signalrservice/webpubsub') {
  name: resourceName
}

resource webPubSubAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.signalrservice/webpubsub') {
  name: assignmentName
  scope: webPubSub
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource mapsAccount 'Microsoft.Maps/accounts@2023-06-01' existing = if (resourceType == 'microsoft.maps/accounts') {
  name: resourceName
}

resource mapsAccountAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceType == 'microsoft.maps/accounts') {
  name: assignmentName
  scope: mapsAccount
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = if (onNamespaceRule && startsWith(resourceType, 'microsoft.servicebus/')) {
  name: segments[8]
}

resource serviceBusNamespaceReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (onNamespaceRule && startsWith(resourceType, 'microsoft.servicebus/')) {
  name: guid(resourceId, principalId, readerRole)
  scope: serviceBusNamespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource eventHubsNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = if (onNamespaceRule && startsWith(resourceType, 'microsoft.eventhub/')) {
  name: segments[8]
}

resource eventHubsNamespaceReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (onNamespaceRule && startsWith(resourceType, 'microsoft.eventhub/')) {
  name: guid(resourceId, principalId, readerRole)
  scope: eventHubsNamespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

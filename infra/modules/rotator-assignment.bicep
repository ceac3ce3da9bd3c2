// Assigns the keyrelay custom role on one managed resource (deployed into that resource's
// resource group). Bicep needs a typed resource reference as a role assignment's scope, so each
// supported kind has its own `existing` reference and assignment, enabled by `kind`; exactly one
// pair is active. The kinds are the keys of `providerActions` in rotator-role.bicep.

@description('Resource id of the managed resource.')
param resourceId string

@description('ARM resource type of the managed resource (a key of providerActions).')
param kind string

@description('Object id of keyrelay\'s identity.')
param principalId string

@description('Resource id of the keyrelay custom role.')
param roleDefinitionId string

// /subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}[/{childType}/{childName}]
var segments = split(resourceId, '/')
var resourceName = length(segments) > 9 ? '${segments[8]}/${segments[10]}' : segments[8]
var assignmentName = guid(resourceId, principalId, roleDefinitionId)

resource redis 'Microsoft.Cache/redis@2024-11-01' existing = if (kind == 'Microsoft.Cache/redis') {
  name: resourceName
}

resource redisAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.Cache/redis') {
  name: assignmentName
  scope: redis
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource redisEnterpriseDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-04-01' existing = if (kind == 'Microsoft.Cache/redisEnterprise/databases') {
  name: resourceName
}

resource redisEnterpriseDatabaseAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.Cache/redisEnterprise/databases') {
  name: assignmentName
  scope: redisEnterpriseDatabase
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = if (kind == 'Microsoft.Storage/storageAccounts') {
  name: resourceName
}

resource storageAccountAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.Storage/storageAccounts') {
  name: assignmentName
  scope: storageAccount
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource cosmosAccount 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = if (kind == 'Microsoft.DocumentDB/databaseAccounts') {
  name: resourceName
}

resource cosmosAccountAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.DocumentDB/databaseAccounts') {
  name: assignmentName
  scope: cosmosAccount
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource serviceBusRule 'Microsoft.ServiceBus/namespaces/AuthorizationRules@2024-01-01' existing = if (kind == 'Microsoft.ServiceBus/namespaces/AuthorizationRules') {
  name: resourceName
}

resource serviceBusRuleAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.ServiceBus/namespaces/AuthorizationRules') {
  name: assignmentName
  scope: serviceBusRule
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource eventHubRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' existing = if (kind == 'Microsoft.EventHub/namespaces/authorizationRules') {
  name: resourceName
}

resource eventHubRuleAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.EventHub/namespaces/authorizationRules') {
  name: assignmentName
  scope: eventHubRule
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource cognitiveAccount 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = if (kind == 'Microsoft.CognitiveServices/accounts') {
  name: resourceName
}

resource cognitiveAccountAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.CognitiveServices/accounts') {
  name: assignmentName
  scope: cognitiveAccount
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource searchService 'Microsoft.Search/searchServices@2023-11-01' existing = if (kind == 'Microsoft.Search/searchServices') {
  name: resourceName
}

resource searchServiceAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.Search/searchServices') {
  name: assignmentName
  scope: searchService
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource signalR 'Microsoft.SignalRService/signalR@2024-03-01' existing = if (kind == 'Microsoft.SignalRService/signalR') {
  name: resourceName
}

resource signalRAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.SignalRService/signalR') {
  name: assignmentName
  scope: signalR
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' existing = if (kind == 'Microsoft.SignalRService/webPubSub') {
  name: resourceName
}

resource webPubSubAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.SignalRService/webPubSub') {
  name: assignmentName
  scope: webPubSub
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource mapsAccount 'Microsoft.Maps/accounts@2023-06-01' existing = if (kind == 'Microsoft.Maps/accounts') {
  name: resourceName
}

resource mapsAccountAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'Microsoft.Maps/accounts') {
  name: assignmentName
  scope: mapsAccount
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

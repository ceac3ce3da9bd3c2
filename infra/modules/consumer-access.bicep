// What one consumer's identity may do: read its own secrets (Key Vault Secrets User on each
// secret, not on the vault), receive on its own steps subscription, and send acks. It can read
// no other consumer's steps and no secret it does not use.

@description('Consumer id; also the name of its steps subscription.')
param consumerId string

@description('Object id of the consumer\'s identity (managed identity or service principal).')
param principalId string

@description('Names of the Key Vault secrets this consumer loads.')
param secretNames array

@description('Key Vault name.')
param keyVaultName string

@description('Service Bus namespace name.')
param serviceBusName string

@description('Topic of reload steps.')
param stepsTopicName string

@description('Queue of consumer acks.')
param acksQueueName string

var roles = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// The secrets must exist before a consumer is granted access to them (docs/deploy.md, "Adding a
// credential").
resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for secretName in secretNames: {
  parent: vault
  name: secretName
}]

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusName
}

resource stepsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' existing = {
  parent: namespace
  name: stepsTopicName
}

resource stepsSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' existing = {
  parent: stepsTopic
  name: consumerId
}

resource acksQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: acksQueueName
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (secretName, i) in secretNames: {
  name: guid(secrets[i].id, principalId, roles.keyVaultSecretsUser)
  scope: secrets[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource stepsReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(stepsSubscription.id, principalId, roles.serviceBusDataReceiver)
  scope: stepsSubscription
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource acksSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(acksQueue.id, principalId, roles.serviceBusDataSender)
  scope: acksQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// keyrelay on Azure: the function app (custom handler) and everything it talks to, with
// least-privilege managed identities and no shared secret anywhere (docs/deploy.md).
//
// Deployed by `azd up` at subscription scope: it creates the resource group, then the modules.
// Every parameter is documented in docs/deploy.md (a test checks it).

targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the azd environment; names the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Azure region of every resource.')
param location string

@description('Function app hosting plan.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string = 'FlexConsumption'

@description('Elastic Premium SKU, when hostingPlan is ElasticPremium.')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param premiumSku string = 'EP1'

@description('Flex Consumption: the most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param flexMaximumInstanceCount int = 40

@description('Flex Consumption: memory per instance, in MB.')
@allowed([
  512
  2048
  4096
])
param flexInstanceMemoryMB int = 2048

@description('Service Bus tier (both support topics and duplicate detection).')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@description('Queue of rotation commands keyrelay sends to itself (KEYRELAY_COMMANDS_QUEUE).')
param commandsQueueName string = 'rotation-commands'

@description('Queue consumers send acks and heartbeats to (KEYRELAY_ACKS_QUEUE).')
param acksQueueName string = 'reload-acks'

@description('Topic of reload steps, one subscription per consumer (KEYRELAY_STEPS_TOPIC).')
param stepsTopicName string = 'reload-steps'

@description('Service Bus duplicate detection window (ISO 8601 duration, at most P7D).')
param duplicateDetectionWindow string = 'P1D'

@description('Deliveries of a Service Bus message before it is dead-lettered.')
@minValue(1)
@maxValue(2000)
param maxDeliveryCount int = 10

@description('Blob container of the rotation state (KEYRELAY_STATE_STORE).')
param stateContainerName string = 'rotation-state'

@description('Path of the policy TOML inside the deployed package (KEYRELAY_POLICY).')
param policyPath string = 'policy.toml'

@description('Rotate a secret whose expiry is within this duration (KEYRELAY_EXPIRY_LEAD).')
param expiryLead string = '7d'

@description('tracing filter of the handler (KEYRELAY_LOG).')
param logFilter string = 'info'

@description('Managed credentials: [{ name, kind, resourceId, secretName }]. kind is the provider kind of policy.toml (a key of providerActions in modules/rotator-role.bicep).')
param credentials array = []

@description('Consumers: [{ id, principalId, secrets: [secretName, ...] }]. id names its steps subscription.')
param consumers array = []

@description('Create the Event Grid subscription to the keyvault-events function (true once the app is deployed; the postdeploy hook sets it).')
param subscribeKeyVaultEvents bool = false

@description('Key Vault purge protection (cannot be turned off once on).')
param keyVaultPurgeProtection bool = true

@description('Object id of the operator who writes the first version of each managed secret; empty grants nobody (azd passes AZURE_PRINCIPAL_ID).')
param principalId string = ''

@description('Principal type of principalId: User, Group or ServicePrincipal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('E-mail address for alerts; empty creates no action group.')
param alertEmail string = ''

@description('Days Log Analytics keeps data.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Tags added to every resource.')
param tags object = {}

var token = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, {
  'azd-env-name': environmentName
})
var secretNames = map(credentials, credential => credential.secretName)
// '/subscriptions/{s}/resourceGroups/{g}' of every managed resource, once each.
var managedResourceGroups = union(map(credentials, credential => join(take(split(credential.resourceId, '/'), 5), '/')), [])

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: allTags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    name: 'kr-${token}'
    location: location
    tags: allTags
    retentionInDays: logRetentionDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stkr${token}'
    location: location
    tags: allTags
    stateContainerName: stateContainerName
    deploymentContainerName: 'app-package-${token}'
    deadLetterContainerName: 'eventgrid-dead-letters'
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: 'sb-kr-${token}'
    location: location
    tags: allTags
    sku: serviceBusSku
    commandsQueueName: commandsQueueName
    acksQueueName: acksQueueName
    stepsTopicName: stepsTopicName
    consumerIds: map(consumers, consumer => consumer.id)
    duplicateDetectionWindow: duplicateDetectionWindow
    maxDeliveryCount: maxDeliveryCount
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-kr-${token}'
    location: location
    tags: allTags
    purgeProtection: keyVaultPurgeProtection
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: 'func-kr-${token}'
    location: location
    tags: allTags
    hostingPlan: hostingPlan
    premiumSku: premiumSku
    flexMaximumInstanceCount: flexMaximumInstanceCount
    flexInstanceMemoryMB: flexInstanceMemoryMB
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    stateContainerUrl: storage.outputs.stateContainerUrl
    serviceBusHostName: serviceBus.outputs.hostName
    commandsQueueName: serviceBus.outputs.commandsQueueName
    acksQueueName: serviceBus.outputs.acksQueueName
    stepsTopicName: serviceBus.outputs.stepsTopicName
    policyPath: policyPath
    expiryLead: expiryLead
    logFilter: logFilter
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module keyrelayAccess 'modules/rbac-keyrelay.bicep' = {
  name: 'rbac-keyrelay'
  scope: rg
  params: {
    principalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusName: serviceBus.outputs.name
    commandsQueueName: serviceBus.outputs.commandsQueueName
    acksQueueName: serviceBus.outputs.acksQueueName
    stepsTopicName: serviceBus.outputs.stepsTopicName
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module consumerAccess 'modules/consumer-access.bicep' = [for consumer in consumers: {
  name: 'consumer-${consumer.id}'
  scope: rg
  params: {
    consumerId: consumer.id
    principalId: consumer.principalId
    secretNames: consumer.secrets
    keyVaultName: keyVault.outputs.name
    serviceBusName: serviceBus.outputs.name
    stepsTopicName: serviceBus.outputs.stepsTopicName
    acksQueueName: serviceBus.outputs.acksQueueName
  }
}]

module rotatorRole 'modules/rotator-role.bicep' = if (!empty(credentials)) {
  name: 'rotator-role'
  scope: subscription()
  params: {
    roleName: 'keyrelay rotator (${environmentName}, ${token})'
    kinds: map(credentials, credential => credential.kind)
    assignableScopes: managedResourceGroups
  }
}

module rotatorAccess 'modules/rotator-assignment.bicep' = [for credential in credentials: {
  name: 'rotator-${credential.name}'
  scope: resourceGroup(split(credential.resourceId, '/')[2], split(credential.resourceId, '/')[4])
  params: {
    resourceId: credential.resourceId
    principalId: functionApp.outputs.principalId
    roleDefinitionId: rotatorRole.outputs.roleDefinitionId
  }
}]

module keyVaultEvents 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: 'evgt-kr-${token}'
    location: location
    tags: allTags
    keyVaultName: keyVault.outputs.name
    subscribe: subscribeKeyVaultEvents
    functionAppId: functionApp.outputs.id
    functionName: 'keyvault-events'
    secretNames: secretNames
    storageAccountName: storage.outputs.name
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    name: 'kr-${token}'
    location: location
    tags: allTags
    alertEmail: alertEmail
    appInsightsId: monitoring.outputs.appInsightsId
    serviceBusId: serviceBus.outputs.id
    eventGridTopicId: keyVaultEvents.outputs.topicId
  }
}

// azd stores these in the environment (.azure/<env>/.env); none is a secret.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_HOST string = functionApp.outputs.defaultHostName
output AZURE_FUNCTION_APP_PRINCIPAL_ID string = functionApp.outputs.principalId
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
output AZURE_SERVICEBUS_HOST string = serviceBus.outputs.hostName
output AZURE_STORAGE_ACCOUNT string = storage.outputs.name
output AZURE_KEYVAULT_EVENTS_SUBSCRIBED bool = keyVaultEvents.outputs.subscribed

// The keyrelay function app: a Linux Functions app whose worker is the `keyrelay serve` custom
// handler, with a system-assigned identity and identity-based connections only.
//
// The app settings are two named objects so tests/infra_consistency.rs can compare them with
// what the code reads: `keyrelaySettings` must hold exactly the settings of src/shells/settings.rs
// (the table in the settings contract), `hostSettings` the Functions host's own.

@description('Function app name.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('FlexConsumption or ElasticPremium.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string

@description('Elastic Premium SKU (used when hostingPlan is ElasticPremium).')
param premiumSku string

@description('Flex Consumption: the most instances the app scales out to.')
param flexMaximumInstanceCount int

@description('Flex Consumption: memory per instance, in MB.')
param flexInstanceMemoryMB int

@description('Storage account of the Functions host (AzureWebJobsStorage, identity-based).')
param storageAccountName string

@description('Blob container URL the Flex Consumption plan deploys the package from.')
param deploymentContainerUrl string

@description('Blob container URL of the rotation state.')
param stateContainerUrl string

@description('Service Bus host name, <ns>.servicebus.windows.net.')
param serviceBusHostName string

@description('Queue of rotation commands.')
param commandsQueueName string

@description('Queue of consumer acks.')
param acksQueueName string

@description('Topic of reload steps.')
param stepsTopicName string

@description('Path of the policy TOML inside the deployed package.')
param policyPath string

@description('Rotate when a secret expires within this duration.')
param expiryLead string

@description('tracing filter of the handler.')
param logFilter string

@description('Application Insights component the app reports to.')
param appInsightsName string

var isFlex = hostingPlan == 'FlexConsumption'

// keyrelay names clouds the way KEYRELAY_CLOUD does; environment() tells which one this is.
var cloudNames = {
  AzureCloud: 'public'
  AzureChinaCloud: 'china'
  AzureUSGovernment: 'usgovernment'
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Exactly the settings `keyrelay serve` reads (settings contract). KEYRELAY_CLIENT_ID stays empty:
// the app uses its system-assigned identity.
var keyrelaySettings = {
  KEYRELAY_POLICY: policyPath
  KEYRELAY_STATE_STORE: 'blob:${stateContainerUrl}'
  KEYRELAY_SERVICEBUS_NAMESPACE: serviceBusHostName
  KEYRELAY_COMMANDS_QUEUE: commandsQueueName
  KEYRELAY_ACKS_QUEUE: acksQueueName
  KEYRELAY_STEPS_TOPIC: stepsTopicName
  KEYRELAY_EXPIRY_LEAD: expiryLead
  KEYRELAY_CREDENTIAL: 'managed-identity'
  KEYRELAY_CLIENT_ID: ''
  KEYRELAY_CLOUD: contains(cloudNames, environment().name) ? cloudNames[environment().name] : 'public'
  // Blank: the endpoint of KEYRELAY_CLOUD (set this only for Azure Stack Hub).
  KEYRELAY_ARM_ENDPOINT: ''
  KEYRELAY_LOG: logFilter
}

// The Functions host's settings: identity-based storage and Service Bus connections (the
// triggers' connection name is ServiceBusConnection), telemetry with Entra authentication.
var hostSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusHostName
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
}

// Flex Consumption takes the runtime from functionAppConfig and rejects these as app settings;
// Elastic Premium needs them.
var premiumSettings = {
  FUNCTIONS_WORKER_RUNTIME: 'custom'
  FUNCTIONS_EXTENSION_VERSION: '~4'
  WEBSITE_RUN_FROM_PACKAGE: '1'
}

// Flex Consumption: the runtime (a custom handler), scale limits, and where the package lives
// (a blob container the app reads with its own identity).
var flexConfig = {
  deployment: {
    storage: {
      type: 'blobContainer'
      value: deploymentContainerUrl
      authentication: {
        type: 'SystemAssignedIdentity'
      }
    }
  }
  scaleAndConcurrency: {
    maximumInstanceCount: flexMaximumInstanceCount
    instanceMemoryMB: flexInstanceMemoryMB
  }
  runtime: {
    name: 'custom'
    version: '1.0'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? {
    name: 'FC1'
    tier: 'FlexConsumption'
  } : {
    name: premiumSku
    tier: 'ElasticPremium'
  }
  properties: {
    reserved: true
    maximumElasticWorkerCount: isFlex ? null : 20
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'keyrelay'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: isFlex ? flexConfig : null
  }
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(keyrelaySettings, hostSettings, isFlex ? {} : premiumSettings)
}

output name string = site.name
output id string = site.id
output principalId string = site.identity.principalId
output defaultHostName string = site.properties.defaultHostName

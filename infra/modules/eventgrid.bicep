// Key Vault events to keyrelay: an Event Grid system topic on the vault and a subscription that
// delivers SecretNearExpiry and SecretExpired for the managed secrets to the keyvault-events
// function. The function only enqueues a rotate command, well inside Event Grid's 30 s.
//
// Undeliverable events go to a blob container, written with the topic's own managed identity
// (no storage key). An Event Grid subscription to an Azure Function needs the function to exist,
// so the subscription is created once the app is deployed (subscribeKeyVaultEvents, set by the
// postdeploy hook in azure.yaml).

@description('System topic name.')
param name string

@description('Azure region (the vault\'s).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Key Vault name.')
param keyVaultName string

@description('Create the event subscription (the keyvault-events function must already be deployed).')
param subscribe bool

@description('Resource id of the function app.')
param functionAppId string

@description('Name of the Event Grid-triggered function.')
param functionName string

@description('Secret names to deliver events for; empty means every secret of the vault.')
param secretNames array

@description('Storage account for dead-lettered events.')
param storageAccountName string

@description('Blob container for dead-lettered events.')
param deadLetterContainerName string

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, topic.id, storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource toKeyrelay 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (subscribe) {
  parent: topic
  name: 'keyrelay-secret-expiry'
  dependsOn: [
    deadLetterWriter
  ]
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.SecretNearExpiry'
        'Microsoft.KeyVault.SecretExpired'
      ]
      // The event subject is the secret name. StringIn takes at most 25 values.
      advancedFilters: empty(secretNames) ? [] : [
        {
          operatorType: 'StringIn'
          key: 'subject'
          values: secretNames
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output topicId string = topic.id
output subscribed bool = subscribe

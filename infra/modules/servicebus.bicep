// Service Bus: the commands queue keyrelay sends to itself, the acks queue consumers answer on,
// and the steps topic with one subscription per consumer.
//
// Local (SAS) auth is disabled: keyrelay and the consumers use Entra ID with the Data
// Sender/Receiver roles scoped to single entities (rbac-keyrelay.bicep, consumer-access.bicep).
// Every MessageId keyrelay sends is deterministic, so duplicate detection drops redeliveries;
// the rotation store's compare-and-swap is the second line.

@description('Namespace name.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Standard or Premium (Basic has no topics and no duplicate detection).')
@allowed([
  'Standard'
  'Premium'
])
param sku string

@description('Queue of rotation commands (keyrelay.command/v1).')
param commandsQueueName string

@description('Queue consumers send acks and heartbeats to.')
param acksQueueName string

@description('Topic of reload steps.')
param stepsTopicName string

@description('Consumers: one subscription each, named by the consumer id.')
param consumerIds array

@description('ISO 8601 duration of the duplicate detection window.')
param duplicateDetectionWindow string

@description('Deliveries before a message is dead-lettered.')
param maxDeliveryCount int

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: sku == 'Premium' ? {
    name: 'Premium'
    tier: 'Premium'
    capacity: 1
  } : {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource commandsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: commandsQueueName
  properties: {
    lockDuration: 'PT5M'
    maxDeliveryCount: maxDeliveryCount
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

resource acksQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: acksQueueName
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: maxDeliveryCount
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

resource stepsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: stepsTopicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    defaultMessageTimeToLive: 'P14D'
  }
}

resource consumerSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [for consumerId in consumerIds: {
  parent: stepsTopic
  name: consumerId
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    defaultMessageTimeToLive: 'P14D'
  }
}]

// A subscription created through ARM gets a `$Default` rule that matches everything; replacing
// that rule (rather than adding a second one) is what makes the subscription see only the
// steps addressed to its consumer.
resource consumerFilters 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = [for (consumerId, i) in consumerIds: {
  parent: consumerSubscriptions[i]
  name: '$Default'
  properties: {
    filterType: 'SqlFilter'
    sqlFilter: {
      sqlExpression: 'consumer = \'${consumerId}\''
    }
  }
}]

output name string = namespace.name
output id string = namespace.id
// `https://<ns>.servicebus.windows.net:443/` in the public cloud; the host name is what the app
// settings need, whatever the cloud's suffix.
output hostName string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]
output commandsQueueName string = commandsQueue.name
output acksQueueName string = acksQueue.name
output stepsTopicName string = stepsTopic.name

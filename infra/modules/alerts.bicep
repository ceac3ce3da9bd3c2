// Alerts an operator must see: a rotation that stalled (the old key stays valid and nothing
// more happens by itself until someone retries, rolls back or forces), and messages nobody could
// process (dead-lettered on Service Bus, or Key Vault events Event Grid could not deliver).

@description('Base name of the alert rules.')
param name string

@description('Azure region (log alerts are regional; metric alerts are global).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('E-mail address alerts go to; empty creates no action group (alerts still fire in the portal).')
param alertEmail string

@description('Application Insights component the handler logs to.')
param appInsightsId string

@description('Service Bus namespace resource id.')
param serviceBusId string

@description('Event Grid system topic resource id.')
param eventGridTopicId string

// The driver logs this message (target keyrelay::alert, with the rotation id, credential and
// reason) when a rotation stalls; the custom handler's output reaches Application Insights as
// traces. tests/infra_consistency.rs checks that src/ still logs exactly this text.
var stalledMarker = 'rotation stalled; an operator must retry, roll back or force'

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${name}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'keyrelay'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroupIds = empty(alertEmail) ? [] : [
  actionGroup.id
]

resource stalledRotations 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'keyrelay-stalled-rotation-${name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'keyrelay: a rotation is stalled'
    description: 'A rotation stopped before retiring the old key (a consumer did not ack in time, or acked unhealthy). Consumers keep working on the old key. Retry, roll back or force it through the keyrelay API.'
    severity: 1
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where message contains "${stalledMarker}"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

resource serviceBusDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'keyrelay-servicebus-dead-letters-${name}'
  location: 'global'
  tags: tags
  properties: {
    description: 'A rotation command, an ack or a reload step was dead-lettered: nobody processed it after the maximum number of deliveries.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: [for id in actionGroupIds: {
      actionGroupId: id
    }]
  }
}

resource eventGridDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'keyrelay-eventgrid-dead-letters-${name}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid could not deliver a Key Vault expiry event to keyrelay; the timer sweep is the backstop, but look at the dead-letter container.'
    severity: 2
    enabled: true
    scopes: [
      eventGridTopicId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredEvents'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    autoMitigate: true
    actions: [for id in actionGroupIds: {
      actionGroupId: id
    }]
  }
}

// The Key Vault that holds the managed secrets. Access is by Azure RBAC only (no access
// policies), so every grant is a role assignment scoped as narrowly as the data allows:
// keyrelay on the vault, each consumer on its own secrets.

@description('Vault name (3-24 characters).')
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Purge protection: a deleted secret cannot be purged before its retention ends. It cannot be turned off once on.')
param purgeProtection bool

@description('Object id of the operator who adopts secrets into the vault; empty grants nobody.')
param operatorPrincipalId string

@description('Principal type of the operator: User, Group or ServicePrincipal.')
param operatorPrincipalType string

var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // ARM rejects `false` once purge protection is on; `null` leaves it off.
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

// The operator writes the first version of each managed secret (docs/deploy.md, "Adding a
// credential"); keyrelay writes every version after that.
resource operatorOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri

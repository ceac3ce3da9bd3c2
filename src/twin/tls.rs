//! A throw-away certificate authority, generated at start, and one server certificate for
//! every host name the twin impersonates.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// Host names the twin's certificate covers: the Azure public-cloud endpoints keyrelay talks
/// to, plus the loopback names.
pub const TWIN_HOSTS: &[&str] = &[
    "management.azure.com",
    "*.management.azure.com",
    "*.vault.azure.net",
    "*.servicebus.windows.net",
    "*.blob.core.windows.net",
    "login.microsoftonline.com",
    "api.redislabs.com",
    "localhost",
    "127.0.0.1",
];

/// The CA certificate (what clients trust) and the server's certificate and key.
#[derive(Clone)]
pub struct TestCa {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa { .. }")
    }
}

impl TestCa {
    pub fn generate() -> anyhow::Result<TestCa> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "keyrelay Azure twin test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let hosts: Vec<String> = TWIN_HOSTS.iter().map(|h| h.to_string()).collect();
        let mut server_params = CertificateParams::new(hosts)?;
        server_params.distinguished_name.push(DnType::CommonName, "keyrelay Azure twin");
        let server_key = KeyPair::generate()?;
        let server_cert = server_params.signed_by(&server_key, &ca)?;

        Ok(TestCa { ca_pem: ca.pem(), server_cert_pem: server_cert.pem(), server_key_pem: server_key.serialize_pem() })
    }

    /// Writes the CA certificate to a file, for child processes (`KEYRELAY_EXTRA_CA_FILE`).
    pub fn write_ca(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, &self.ca_pem)
    }
}

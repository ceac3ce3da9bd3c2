//! The TCP probe: something listens at the address (the application came back after a
//! restart-style reload).

pub async fn connect(address: &str) -> Result<String, String> {
    tokio::net::TcpStream::connect(address)
        .await
        .map(|_| format!("tcp connect to {address} ok"))
        .map_err(|e| format!("tcp connect to {address}: {e}"))
}

//! Self-hosted Redis: the redis-server twin itself (a real child process with ACL users), and
//! the self-hosted provider rotating one ACL user's two passwords through the whole protocol.

mod support;

use keyrelay::adapters::redis::{strong_password, RedisEndpoint};
use keyrelay::domain::SecretValue;
use keyrelay::twin::{RedisServer, RedisServerOptions, TestCa};

#[tokio::test]
async fn twin_server_sets_two_passwords_and_drops_one() {
    let server = RedisServer::start().await.unwrap();
    let (p1, p2) = (strong_password(), strong_password());
    server.set_user_passwords("app", &[p1.clone(), p2.clone()]).await.unwrap();
    assert!(server.can_login("app", &p1).await);
    assert!(server.can_login("app", &p2).await);
    assert!(!server.can_login("app", &strong_password()).await);
    assert_eq!(server.password_hashes("app").await.unwrap().len(), 2);

    // A signed-in connection survives its password being removed; new sign-ins fail.
    let mut held = server.endpoint().connect("app", &p1).await.unwrap();
    server.set_user_passwords("app", &[p2.clone()]).await.unwrap();
    assert!(!server.can_login("app", &p1).await);
    assert!(server.can_login("app", &p2).await);
    let pong: String = redis::cmd("PING").query_async(&mut held).await.unwrap();
    assert_eq!(pong, "PONG");
    // ... until the admin drops it.
    assert_eq!(server.disconnect_user("app").await.unwrap(), 1);
    assert!(redis::cmd("PING").query_async::<String>(&mut held).await.is_err());

    // The default user is off unless asked for.
    assert!(!server.can_login("default", &SecretValue::new("")).await);
    let (admin, admin_pw) = server.admin();
    assert!(server.can_login(&admin, &admin_pw).await);
}

#[tokio::test]
async fn twin_server_speaks_tls_with_the_test_ca_only() {
    let ca = TestCa::generate().unwrap();
    let server = RedisServer::start_tls(&ca).await.unwrap();
    let endpoint = server.endpoint();
    assert!(endpoint.tls);
    let pw = strong_password();
    server.set_user_passwords("app", &[pw.clone()]).await.unwrap();
    assert!(server.can_login("app", &pw).await);

    let untrusted = RedisEndpoint { ca_pem: Some(TestCa::generate().unwrap().ca_pem), ..endpoint.clone() };
    assert!(untrusted.connect("app", &pw).await.is_err(), "a certificate from another CA must be refused");
    let plain = RedisEndpoint { tls: false, ca_pem: None, ..endpoint };
    assert!(plain.connect("app", &pw).await.is_err(), "the TLS port must not answer plain TCP");
}

/// A `requirepass`-style server: the default user with one password.
async fn requirepass_server() -> (RedisServer, SecretValue) {
    let pw = strong_password();
    let options = RedisServerOptions { requirepass: Some(pw.clone()), ..Default::default() };
    (RedisServer::start_with(options).await.unwrap(), pw)
}

#[tokio::test]
async fn twin_server_requirepass_and_drop_kills_it() {
    let (server, pw) = requirepass_server().await;
    assert!(server.can_login("default", &pw).await);
    let endpoint = server.endpoint();
    let log = server.log_path();
    assert!(log.exists());
    drop(server);
    assert!(endpoint.connect("default", &pw).await.is_err(), "the server must be gone after drop");
    assert!(!log.exists(), "the temporary directory must be removed");
}

use keyrelay::adapters::memory::MemorySecrets;
use keyrelay::adapters::redis::{SelfHostedConfig, SelfHostedProvider, Staging, UserPassword};
use keyrelay::core::Phase;
use keyrelay::domain::Slot;
use keyrelay::ports::SecretRef;
use std::sync::Arc;
use support::redis::{after_requests, plan, Harness, LiveConsumer, Traffic};

fn kv(name: &str) -> SecretRef {
    SecretRef { vault: "kv.vault.azure.net".into(), name: name.into() }
}

fn selfhosted_config(server: &RedisServer) -> SelfHostedConfig {
    SelfHostedConfig {
        endpoint: server.endpoint(),
        user: "app".into(),
        admin_secret: kv("redis-admin"),
        secret: kv("redis-app"),
        staging: Staging::default_ref(&kv("redis-app")),
    }
}

#[tokio::test]
async fn selfhosted_rotates_twice_over_tls_under_live_traffic_with_zero_failures() {
    let ca = TestCa::generate().unwrap();
    let server = RedisServer::start_tls(&ca).await.unwrap();
    let (p1, p2) = (strong_password(), strong_password());
    server.set_user_passwords("app", &[p1.clone(), p2.clone()]).await.unwrap();
    let secrets = Arc::new(MemorySecrets::new());
    let (admin, admin_pw) = server.admin();
    let now = chrono::Utc::now();
    secrets.seed(&kv("redis-admin"), UserPassword::new(&admin, admin_pw).to_secret(), None, now);
    let initial = UserPassword::new("app", p1.clone()).to_secret();
    secrets.seed(&kv("redis-app"), initial.clone(), Some(Slot::Primary), now);

    let provider = Arc::new(SelfHostedProvider::new(selfhosted_config(&server), secrets.clone()).unwrap());
    let harness = Harness::new(secrets.clone(), provider);
    let consumers: Vec<_> =
        ["canary", "web", "api"].iter().map(|id| LiveConsumer::new(id, server.endpoint(), &initial)).collect();
    let traffic = Traffic::start(&consumers);
    let the_plan = plan("app-redis", "redis-selfhosted", &kv("redis-app"), &[("canary", 1), ("web", 2), ("api", 2)]);

    for round in 0..2 {
        after_requests(&consumers, 20 * (round as u64 + 1)).await;
        let rotation = harness.start(the_plan.clone()).await;
        let done = harness.run(&rotation, &consumers).await;
        assert_eq!(done.phase, Phase::Completed, "round {round}: {:#?}", done.timeline);
        // The user still has exactly two passwords: the one consumers use and a fresh standby.
        let (current, value) = secrets.current_value(&kv("redis-app")).unwrap();
        let in_use = UserPassword::parse(&value).unwrap();
        assert!(server.can_login("app", &in_use.password).await);
        assert_eq!(server.password_hashes("app").await.unwrap().len(), 2);
        assert_eq!(current.slot, Some(if round == 0 { Slot::Secondary } else { Slot::Primary }));
        // The retired slot's new password is kept nowhere (DESIGN, Retire): of the user's two
        // passwords, only the one in use is in any secret keyrelay wrote.
        let stored: Vec<String> = secrets
            .all_values()
            .iter()
            .filter_map(|v| UserPassword::parse(v).ok())
            .map(|c| keyrelay::adapters::redis::acl::password_hash(&c.password))
            .collect();
        let in_use_hash = keyrelay::adapters::redis::acl::password_hash(&in_use.password);
        for hash in server.password_hashes("app").await.unwrap() {
            assert_eq!(stored.contains(&hash), hash == in_use_hash, "round {round}: a retired password was stored");
        }
        // No value in the rotation record, its timeline or its errors.
        let record = format!("{done:?}");
        assert!(!record.contains(in_use.password.expose()) && !record.contains(p1.expose()));
    }
    after_requests(&consumers, 60).await;
    let (requests, failures) = traffic.finish(&consumers).await;
    eprintln!("live traffic: {requests} requests, {failures} failed");
    assert!(requests >= 180, "too little traffic to mean anything: {requests}");
    assert_eq!(failures, 0, "{failures} of {requests} requests failed");
    // Both original passwords are gone.
    assert!(!server.can_login("app", &p1).await);
    assert!(!server.can_login("app", &p2).await);
}

#[tokio::test]
async fn selfhosted_refuses_requirepass_setups_and_drifted_passwords() {
    let (server, pw) = requirepass_server().await;
    let secrets = Arc::new(MemorySecrets::new());
    let config = SelfHostedConfig { user: "default".into(), ..selfhosted_config(&server) };
    let err = SelfHostedProvider::new(config, secrets.clone()).err().expect("requirepass must be refused");
    assert!(err.contains("requirepass") && err.contains("two ACL users") && err.contains("ACL SETUSER"), "{err}");
    assert!(!err.contains(pw.expose()));

    // A Key Vault value that is not one of the user's passwords: nothing is changed.
    let real = strong_password();
    server.set_user_passwords("app", &[real.clone()]).await.unwrap();
    let (admin, admin_pw) = server.admin();
    let now = chrono::Utc::now();
    secrets.seed(&kv("redis-admin"), UserPassword::new(&admin, admin_pw).to_secret(), None, now);
    secrets.seed(&kv("redis-app"), UserPassword::new("app", strong_password()).to_secret(), Some(Slot::Primary), now);
    let provider = SelfHostedProvider::new(selfhosted_config(&server), secrets).unwrap();
    use keyrelay::ports::KeyProvider;
    let err = provider.regenerate(Slot::Secondary, false).await.unwrap_err().to_string();
    assert!(err.contains("not one of ACL user \"app\"'s passwords"), "{err}");
    assert!(server.can_login("app", &real).await, "the password in use must survive a refused regenerate");
}

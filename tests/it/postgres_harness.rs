//! The PostgreSQL fixture the store tests stand on (`support::postgres`): a real server that
//! wants the password, databases that do not see each other, an outage that keeps the data, and
//! one shared server for all the tests of a binary at once.

use std::collections::BTreeSet;

use support::postgres::{Postgres, USER};

/// `url` with `password` in it, as a client given the wrong one would connect.
fn with_password(url: &str, password: &str) -> String {
    url.replacen(&format!("{USER}@"), &format!("{USER}:{password}@"), 1)
}

#[test]
fn the_server_wants_its_password_and_refuses_a_wrong_one() {
    let pg = Postgres::shared();
    let url = pg.database("password");
    assert!(
        url.starts_with(&format!("postgres://{USER}@127.0.0.1:{}/password_", pg.port())),
        "{url}"
    );
    assert!(!url.contains(pg.password()), "the URL carries no password: {url}");
    assert_eq!(pg.sql(&url, "SELECT current_user"), USER);

    let refused = pg
        .try_sql(&with_password(&url, "not-the-password"), "SELECT 1")
        .expect_err("a wrong password is refused");
    assert!(
        refused.contains("password authentication failed"),
        "refused for the password: {refused}"
    );
    let superuser = pg.sql(&url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user");
    assert_eq!(superuser, "t", "the tests' user may alter databases");
}

#[test]
fn two_databases_are_independent() {
    let pg = Postgres::shared();
    let (a, b) = (pg.database("store"), pg.database("store"));
    assert_ne!(a, b, "each call gets a database of its own");

    pg.sql(
        &a,
        "CREATE TABLE deployments (id int); INSERT INTO deployments VALUES (1), (2)",
    );
    assert_eq!(pg.sql(&a, "SELECT count(*) FROM deployments"), "2");
    let missing = pg
        .try_sql(&b, "SELECT count(*) FROM deployments")
        .expect_err("the other database has no such table");
    assert!(missing.contains("does not exist"), "{missing}");
    pg.sql(&b, "CREATE TABLE deployments (id int)");
    assert_eq!(pg.sql(&b, "SELECT count(*) FROM deployments"), "0");
}

#[test]
fn a_stopped_server_refuses_connections_and_restarts_with_its_data() {
    // A server of its own: stopping the shared one would take it from the tests running beside.
    let pg = Postgres::start();
    let url = pg.database("outage");
    pg.sql(
        &url,
        "CREATE TABLE episodes (name text); INSERT INTO episodes VALUES ('before the outage')",
    );

    pg.stop();
    let down = pg.try_sql(&url, "SELECT 1").expect_err("no server while stopped");
    assert!(down.contains("Connection refused"), "{down}");

    pg.restart();
    assert_eq!(
        pg.sql(&url, "SELECT name FROM episodes"),
        "before the outage",
        "the same port and the same data"
    );
    // Restarting a running server is an outage too, and so is stopping twice.
    pg.restart();
    pg.stop();
    pg.stop();
    assert!(pg.try_sql(&url, "SELECT 1").is_err());
}

#[test]
fn the_shared_server_serves_tests_running_in_parallel() {
    let urls: Vec<(u16, String)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|i| {
                s.spawn(move || {
                    let pg = Postgres::shared();
                    let url = pg.database("parallel");
                    pg.sql(&url, &format!("CREATE TABLE t (n int); INSERT INTO t VALUES ({i})"));
                    assert_eq!(
                        pg.sql(&url, "SELECT n FROM t"),
                        i.to_string(),
                        "{url} holds its own row"
                    );
                    (pg.port(), url)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let ports: BTreeSet<u16> = urls.iter().map(|(port, _)| *port).collect();
    let databases: BTreeSet<&String> = urls.iter().map(|(_, url)| url).collect();
    assert_eq!(ports.len(), 1, "one server for the whole test binary: {urls:?}");
    assert_eq!(databases.len(), 8, "a database per caller: {urls:?}");
}

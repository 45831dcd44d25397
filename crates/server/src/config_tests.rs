//! Configuration: defaults, files, environment, and the errors that name the setting.

use super::*;
use std::io::Write;

#[test]
fn defaults_match_the_contract() {
    let config = Config::default();
    assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
    assert_eq!(config.data_dir, PathBuf::from("./data"));
    assert_eq!(config.role, ServerRole::All);
    assert_eq!(config.nats_prefix, "unmogrowp");
    assert_eq!(config.public_url(), "http://127.0.0.1:8080");
}

#[test]
fn file_values_are_read_and_flags_win() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        file,
        "addr = \"127.0.0.1:9000\"\nlog_level = \"debug\"\n[http]\nmax_body_bytes = 4096"
    )
    .expect("write");
    let overrides =
        Overrides { addr: Some("127.0.0.1:9100".parse().expect("addr")), ..Default::default() };
    let config = Config::load_from(
        Some(file.path()),
        Env::prefixed("UNMOGROWP_NO_SUCH_PREFIX_"),
        &overrides,
    )
    .expect("config loads");
    assert_eq!(config.addr.to_string(), "127.0.0.1:9100");
    assert_eq!(config.log_level, "debug");
    assert_eq!(config.http.max_body_bytes, 4096);
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "adr = \"127.0.0.1:9000\"").expect("write");
    let error = Config::load_from(
        Some(file.path()),
        Env::prefixed("UNMOGROWP_NO_SUCH_PREFIX_"),
        &Overrides::default(),
    )
    .expect_err("unknown key refused")
    .to_string();
    assert!(error.contains("adr"), "{error}");
}

#[test]
fn a_missing_file_is_an_error() {
    let error = Config::load_from(
        Some(Path::new("/nonexistent/unmogrowp.toml")),
        Env::prefixed("X_"),
        &Overrides::default(),
    )
    .expect_err("missing file refused");
    assert!(matches!(error, ConfigError::MissingFile(_)));
}

#[test]
fn environment_overrides_file_including_nested_sections() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "unmogrowp.toml",
            "log_level = \"debug\"\n[http]\nrequest_timeout_ms = 5000",
        )?;
        jail.set_env("UNMOGROWP_LOG_LEVEL", "warn");
        jail.set_env("UNMOGROWP_HTTP__REQUEST_TIMEOUT_MS", "7000");
        jail.set_env("UNMOGROWP_DATABASE_URL", "postgres://u@127.0.0.1:5432/db");
        let config = Config::load(Some(Path::new("unmogrowp.toml")), &Overrides::default())
            .map_err(|e| e.to_string())?;
        assert_eq!(config.log_level, "warn");
        assert_eq!(config.http.request_timeout_ms, 7000);
        assert_eq!(config.database_url(), Some("postgres://u@127.0.0.1:5432/db"));
        Ok(())
    });
}

#[test]
fn unknown_environment_keys_are_refused_by_name() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("UNMOGROWP_DATABSE_URL", "postgres://typo");
        let error =
            Config::load(None, &Overrides::default()).expect_err("typo refused").to_string();
        assert!(error.contains("databse_url"), "{error}");
        Ok(())
    });
}

#[test]
fn numeric_secrets_from_the_environment_are_kept_as_text() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("UNMOGROWP_REDIS_URL", "12345");
        let config = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(
            config.redis_url.as_ref().map(|s| s.expose_secret().to_owned()).as_deref(),
            Some("12345")
        );
        Ok(())
    });
}

#[test]
fn secrets_are_not_printed() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "database_url = \"postgres://app:hunter2@db:5432/x\"").expect("write");
    let config = Config::load_from(
        Some(file.path()),
        Env::prefixed("UNMOGROWP_NO_SUCH_PREFIX_"),
        &Overrides::default(),
    )
    .expect("config loads");
    assert!(!format!("{config:?}").contains("hunter2"));
    assert_eq!(config.database_url(), Some("postgres://app:hunter2@db:5432/x"));
}

#[test]
fn a_worker_knows_its_ordinal_or_says_which_setting_to_fix() {
    let one = PipelineConfig::default();
    assert_eq!(one.ordinal(None).expect("one worker"), 0);
    let three = PipelineConfig { workers: 3, ..PipelineConfig::default() };
    assert_eq!(three.ordinal(Some("unmogrowp-worker-2")).expect("from the host name"), 2);
    let error = three.ordinal(Some("worker")).expect_err("no number").to_string();
    assert!(error.contains("UNMOGROWP_PIPELINE__WORKER_ORDINAL"), "{error}");
    let error = three.ordinal(Some("unmogrowp-worker-3")).expect_err("out of range").to_string();
    assert!(error.contains("0 to 2"), "{error}");
    let set = PipelineConfig { worker_ordinal: Some(1), ..three.clone() };
    assert_eq!(set.ordinal(Some("unmogrowp-worker-0")).expect("configured wins"), 1);
    let crowded = PipelineConfig { partitions: 2, ..three };
    let error = crowded.ordinal(Some("w-0")).expect_err("more workers").to_string();
    assert!(error.contains("pipeline.partitions"), "{error}");
}

#[test]
fn security_settings_are_checked_when_loaded() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("UNMOGROWP_HTTP__METRICS_TOKEN", "");
        let error = Config::load(None, &Overrides::default()).expect_err("empty token").to_string();
        assert!(error.contains("http.metrics_token"), "{error}");
        jail.set_env("UNMOGROWP_HTTP__METRICS_TOKEN", "a-scraper-token-of-some-length");
        jail.set_env("UNMOGROWP_SECURITY__OUTBOUND_ALLOW_CIDRS", r#"["10.0.0.0/33"]"#);
        let error = Config::load(None, &Overrides::default()).expect_err("bad range").to_string();
        assert!(error.contains("security.outbound_allow_cidrs"), "{error}");
        jail.set_env("UNMOGROWP_SECURITY__OUTBOUND_ALLOW_CIDRS", r#"["10.20.0.0/16"]"#);
        let config = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
        assert!(config.security.outbound_policy().permits("10.20.3.4".parse().expect("ip")));
        assert!(!config.security.outbound_policy().permits("10.21.0.1".parse().expect("ip")));
        Ok(())
    });
}

#[test]
fn zero_lifetimes_and_bad_log_filters_are_refused_by_name() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("UNMOGROWP_AUTH__REMEMBER_ME_TTL_DAYS", "0");
        let error = Config::load(None, &Overrides::default()).expect_err("zero").to_string();
        assert!(error.contains("auth.remember_me_ttl_days"), "{error}");
        jail.set_env("UNMOGROWP_AUTH__REMEMBER_ME_TTL_DAYS", "30");
        jail.set_env("UNMOGROWP_LOG_LEVEL", "info,[");
        let error = Config::load(None, &Overrides::default()).expect_err("bad filter").to_string();
        assert!(error.contains("log_level"), "{error}");
        jail.set_env("UNMOGROWP_LOG_LEVEL", "info,unmogrowp_server=debug");
        assert!(Config::load(None, &Overrides::default()).is_ok());
        Ok(())
    });
}

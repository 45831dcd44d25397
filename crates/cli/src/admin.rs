//! `unmogrowp admin …`: operator commands on a deployment's data (run beside live servers).

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use unmogrowp_server::config::{Config, Overrides};

#[derive(Subcommand)]
pub(crate) enum AdminCommand {
    /// Re-wrap every organization's data key under the newest master key (no downtime: the
    /// data itself is not re-encrypted).
    RotateKeys(RotateKeysArgs),
    /// Delete an organization with all its OLTP data, and destroy its data key: its sealed
    /// fields (in the event store too) can never be read again.
    DeleteOrg(DeleteOrgArgs),
}

#[derive(Args)]
pub(crate) struct Target {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for embedded data [default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct RotateKeysArgs {
    #[command(flatten)]
    target: Target,
    /// First append a fresh key as the next version to the key file (rings kept in the key
    /// file only; for `encryption.master_keys`, add the line `--print-new-key` gives to every
    /// node's configuration, restart them, then run this command).
    #[arg(long)]
    add_master_key: bool,
    /// Print a new ring entry (the next version, a fresh key) and exit.
    #[arg(long, conflicts_with = "add_master_key")]
    print_new_key: bool,
}

#[derive(Args)]
pub(crate) struct DeleteOrgArgs {
    #[command(flatten)]
    target: Target,
    /// The organization's id (a UUID, as `GET /api/v1/me` shows it).
    #[arg(long, value_name = "ORG_ID")]
    org: String,
    /// Confirm: the organization's data cannot be recovered.
    #[arg(long)]
    yes: bool,
}

fn load(target: &Target) -> anyhow::Result<Config> {
    let overrides = Overrides { data_dir: target.data_dir.clone(), ..Overrides::default() };
    Ok(Config::load(target.config.as_deref(), &overrides)?)
}

pub(crate) async fn run(command: AdminCommand, announce: fn(&str)) -> anyhow::Result<()> {
    match command {
        AdminCommand::RotateKeys(args) => {
            let config = load(&args.target)?;
            let mut ring = config.encryption.master_keys(&config.data_dir)?;
            if args.print_new_key {
                announce(&unmogrowp_storage::vault::MasterKeys::new_entry(
                    ring.active_version() + 1,
                ));
                return Ok(());
            }
            if args.add_master_key {
                ring = std::sync::Arc::new(ring.add_to_file().context("adding a master key")?);
                announce(&format!(
                    "added master key version {} to {}",
                    ring.active_version(),
                    config.encryption.key_file(&config.data_dir).display()
                ));
            }
            let mut options = unmogrowp_server::app::store_options(&config);
            options.master_keys = Some(ring);
            let store =
                unmogrowp_storage::Store::open(&options).await.context("opening the database")?;
            let rotation = store.vault().rotate().await.context("re-wrapping data keys")?;
            announce(&format!(
                "re-wrapped {} data keys under master key version {} ({} already were)",
                rotation.rewrapped, rotation.active_version, rotation.current
            ));
            store.close().await;
            Ok(())
        }
        AdminCommand::DeleteOrg(args) => {
            anyhow::ensure!(
                args.yes,
                "deleting an organization cannot be undone: add --yes to confirm"
            );
            let org_id = unmogrowp_domain::OrgId::parse(&args.org).ok_or_else(|| {
                anyhow::anyhow!("--org: `{}` is not an organization id", args.org)
            })?;
            let config = load(&args.target)?;
            let options = unmogrowp_server::app::store_options_with_keys(&config)?;
            let store =
                unmogrowp_storage::Store::open(&options).await.context("opening the database")?;
            match store.delete_organization(&org_id).await {
                Ok(()) => {}
                Err(unmogrowp_storage::StorageError::NotFound) => {
                    anyhow::bail!("--org: there is no organization {org_id}")
                }
                Err(error) => return Err(error).context("deleting the organization"),
            }
            announce(&format!(
                "deleted organization {org_id} and destroyed its data key: its sealed fields cannot be read any more"
            ));
            store.close().await;
            Ok(())
        }
    }
}

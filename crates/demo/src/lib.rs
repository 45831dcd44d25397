//! The demo organization: an owner account, two apps, tracking links on several networks and
//! `days` of realistic traffic (clicks, impressions, attributed and organic installs, some
//! click-injection fraud, sessions, purchases in several currencies), appended to the event
//! log in time order so the pipeline attributes it like live traffic; and for the iOS app, a
//! SKAdNetwork conversion-value schema and postbacks. Seeding is idempotent:
//! a data dir that already has the demo account is left as it is.
#![warn(missing_docs)]

use anyhow::Context;
use rand::{Rng, SeedableRng};
use unmogrowp_bus::Entry;
use unmogrowp_domain::app::{AttributionSettings, Platform};
use unmogrowp_domain::event::{Device, EventType, LinkRef, LogRecord, LoggedEvent, Money, Source};
use unmogrowp_server::state::AppState;
use unmogrowp_storage::{App, Link, NewApp, NewLink, NewUser};

mod skan;

/// The demo owner account's sign-in email (a reserved `.localhost` address, never a real
/// mailbox); [`seed`] checks for it to tell whether the demo already exists.
pub const EMAIL: &str = "demo@unmogrowp.localhost";
/// The demo owner account's password: fixed, and printed by `unmogrowp demo`, so anyone who
/// can reach a server with a seeded data dir can sign in as the demo owner.
pub const PASSWORD: &str = "space rush demo 2026";

/// What [`seed`] returns: the credentials to sign in to the demo organization, and how much
/// traffic was appended to the event log.
pub struct DemoLogin {
    /// The demo owner's email ([`EMAIL`]).
    pub email: String,
    /// The demo owner's password ([`PASSWORD`]).
    pub password: String,
    /// Records appended (0 when the demo was already there).
    pub records: usize,
}

const NETWORKS: [(&str, &[&str], f64); 5] = [
    ("meta", &["spring_sale", "ugc_creatives"], 0.09),
    ("google", &["uac_install"], 0.07),
    ("tiktok", &["creators"], 0.05),
    ("unity", &["rewarded_video"], 0.06),
    ("applovin", &["playable"], 0.08),
];

struct Seeder<'a> {
    rng: rand::rngs::StdRng,
    records: Vec<LoggedEvent>,
    app: &'a App,
    now: i64,
}

impl Seeder<'_> {
    fn device(&mut self, platform: Platform, id: u64) -> Device {
        let country = ["US", "DE", "BR", "IN", "JP", "FR", "GB"][self.rng.random_range(0..7)];
        let mut device = Device {
            ip: Some(format!("198.51.{}.{}", id % 250, (id / 250) % 250)),
            user_agent: Some(match platform {
                Platform::Android => {
                    "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UD1A.230803.041)".to_owned()
                }
                Platform::Ios => "SpaceRush/3.2 (iPhone; iOS 17.4; Scale/3.00)".to_owned(),
            }),
            os: Some(platform.as_str().to_owned()),
            os_version: Some(match platform {
                Platform::Android => "14".to_owned(),
                Platform::Ios => "17.4".to_owned(),
            }),
            country: Some(country.to_owned()),
            ..Device::default()
        };
        let value = format!("{:08x}-demo-{:012x}", self.app.created_at % 0xffff_ffff, id);
        match platform {
            Platform::Android => device.gaid = Some(value),
            Platform::Ios => device.idfv = Some(value),
        }
        device
    }

    fn push(&mut self, kind: EventType, at: i64, device: Device, link: Option<LinkRef>) -> usize {
        let id = format!("demo-{}-{}", kind.as_str(), self.records.len());
        self.records.push(LoggedEvent {
            id,
            org_id: self.app.org_id.clone(),
            app_id: self.app.id.clone(),
            kind,
            name: None,
            timestamp_ms: at,
            received_ms: at.min(self.now),
            source: if kind.is_touch() { Source::TrackingLink } else { Source::Sdk },
            device,
            click_id: None,
            link,
            network_click_id: None,
            subs: Vec::new(),
            revenue: None,
            properties: None,
            trace: None,
        });
        self.records.len() - 1
    }

    /// What an installed user does afterwards, day by day: active on the install day with
    /// probability 0.9, and `n` days later with `0.35 · n^-0.55` (about 35 % on day 1, 12 % on
    /// day 7, 5 % on day 30: the decay mobile games show); one or two sessions on an active day,
    /// and a `level_complete` event on 60 % of them.
    /// Purchases come mostly from users who stayed: the chance per active day grows from 4 %
    /// on the first days to 25 % from the second week on.
    fn engage(&mut self, device: &Device, installed_at: i64) {
        const DAY: i64 = 86_400_000;
        let install_day = installed_at.div_euclid(DAY) * DAY;
        let mut day: i64 = 0;
        loop {
            let day_start = install_day + day * DAY;
            if day_start > self.now {
                break;
            }
            let retained = if day == 0 { 0.9 } else { 0.35 * (day as f64).powf(-0.55) };
            if self.rng.random_bool(retained) {
                let earliest = if day == 0 { installed_at + 60_000 } else { day_start };
                let latest = (day_start + DAY - 120_000).min(self.now);
                if earliest < latest {
                    for _ in 0..self.rng.random_range(1..=2) {
                        let at = self.rng.random_range(earliest..latest);
                        self.push(EventType::Session, at, device.clone(), None);
                    }
                    // Playing: most active days finish a level.
                    if self.rng.random_bool(0.6) {
                        let at = self.rng.random_range(earliest..latest);
                        let index = self.push(EventType::Event, at, device.clone(), None);
                        self.records[index].name = Some("level_complete".to_owned());
                    }
                    let buys = match day {
                        0..=2 => 0.04,
                        3..=13 => 0.12,
                        _ => 0.25,
                    };
                    if self.rng.random_bool(buys) {
                        let at = self.rng.random_range(earliest..latest);
                        self.purchase(at, device);
                    }
                }
            }
            day += 1;
        }
    }

    fn purchase(&mut self, at: i64, device: &Device) {
        let index = self.push(EventType::Event, at, device.clone(), None);
        let (currency, amount) = match self.rng.random_range(0..10) {
            0..=5 => ("USD", [0.99, 4.99, 9.99, 19.99][self.rng.random_range(0..4)]),
            6..=8 => ("EUR", [0.99, 4.99, 9.99][self.rng.random_range(0..3)]),
            _ => ("BRL", [4.9, 24.9, 49.9][self.rng.random_range(0..3)]),
        };
        let record = &mut self.records[index];
        record.name = Some("purchase".to_owned());
        record.revenue = Some(Money { amount, currency: currency.to_owned() });
    }
}

fn link_ref(link: &Link) -> LinkRef {
    unmogrowp_server::ingest::link_ref(link)
}

/// Seeds the demo organization (unless it exists) and appends its traffic to the event log.
pub async fn seed(state: &AppState, days: u32, scale: f64) -> anyhow::Result<DemoLogin> {
    let login =
        |records| DemoLogin { email: EMAIL.to_owned(), password: PASSWORD.to_owned(), records };
    if state.store.accounts().credentials_by_email(EMAIL).await?.is_some() {
        return Ok(login(0));
    }
    let password_hash =
        state.auth.passwords.hash(PASSWORD).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_, _, membership) = state
        .store
        .accounts()
        .register_owner(
            NewUser { email: EMAIL.to_owned(), name: "Demo Owner".to_owned(), password_hash },
            "Demo Studio",
        )
        .await
        .context("creating the demo account")?;
    let tenant = state
        .store
        .tenant::<unmogrowp_storage::tenant::AsOwner>(&membership)
        .context("the demo account owns its organization")?;
    let mut total = 0;
    for (name, platform, bundle, store) in [
        (
            "Space Rush",
            Platform::Android,
            "com.demo.spacerush",
            "https://play.google.com/store/apps/details?id=com.demo.spacerush",
        ),
        (
            "Space Rush iOS",
            Platform::Ios,
            "com.demo.SpaceRush",
            "https://apps.apple.com/app/id1234567890",
        ),
    ] {
        let app = tenant
            .create_app(NewApp {
                name: name.to_owned(),
                platform,
                bundle_id: bundle.to_owned(),
                store_url: store.to_owned(),
                app_token: unmogrowp_server::secrets::app_token(),
                attribution: AttributionSettings::default(),
                time_zone: "UTC".to_owned(),
                currency: "USD".to_owned(),
            })
            .await?;
        if platform == Platform::Ios {
            let postbacks = skan::seed(state, &membership, &app, &NETWORKS, days, scale).await?;
            tracing::info!(postbacks, "demo SKAdNetwork postbacks stored");
        }
        let mut links = Vec::new();
        for (network, campaigns, conversion) in NETWORKS {
            for campaign in campaigns {
                let link = tenant
                    .create_link(
                        &app.id,
                        NewLink {
                            network: network.to_owned(),
                            campaign: (*campaign).to_owned(),
                            adgroup: "broad".to_owned(),
                            creative: "video_a".to_owned(),
                            retargeting: false,
                            // Installs from these clicks open on the campaign's offer.
                            deep_link: Some(format!("spacerush://offer/{campaign}")),
                        },
                    )
                    .await?;
                links.push((link, conversion));
            }
        }
        let shady = tenant
            .create_link(
                &app.id,
                NewLink {
                    network: "shadynet".to_owned(),
                    campaign: "incent".to_owned(),
                    adgroup: String::new(),
                    creative: String::new(),
                    retargeting: false,
                    deep_link: None,
                },
            )
            .await?;
        let now = jiff::Timestamp::now().as_millisecond() - 60_000;
        let start = now - i64::from(days) * 86_400_000;
        let seed = u64::try_from(app.created_at).unwrap_or(7);
        let mut seeder = Seeder {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            records: Vec::new(),
            app: &app,
            now,
        };
        let mut device_id = 0u64;
        for day in 0..i64::from(days) {
            let day_start = start + day * 86_400_000;
            // Weekly rhythm and growth over the month.
            let weekday = 1.0 + 0.25 * ((day % 7) as f64 / 6.0);
            let growth = 0.7 + 0.6 * (day as f64 / f64::from(days.max(1)));
            for (link, conversion) in &links {
                let clicks =
                    (seeder.rng.random_range(40..110) as f64 * scale * weekday * growth) as u64;
                for _ in 0..clicks {
                    device_id += 1;
                    let device = seeder.device(platform, device_id);
                    let at = day_start + seeder.rng.random_range(0..86_400_000);
                    if at > now {
                        continue;
                    }
                    seeder.push(EventType::Click, at, device.clone(), Some(link_ref(link)));
                    for _ in 0..seeder.rng.random_range(1..4) {
                        let seen = at - seeder.rng.random_range(60_000..7_200_000);
                        let other = seeder.device(platform, device_id + 1_000_000_000);
                        seeder.push(EventType::Impression, seen, other, Some(link_ref(link)));
                    }
                    if seeder.rng.random_bool(*conversion) {
                        let installed = at + seeder.rng.random_range(120_000..2 * 86_400_000);
                        if installed <= now {
                            seeder.push(EventType::Install, installed, device.clone(), None);
                            seeder.engage(&device, installed);
                        }
                    }
                }
            }
            // Organic installs: nobody clicked.
            let organic = (seeder.rng.random_range(25..60) as f64 * scale * growth) as u64;
            for _ in 0..organic {
                device_id += 1;
                let device = seeder.device(platform, device_id);
                let installed = day_start + seeder.rng.random_range(0..86_400_000);
                if installed <= now {
                    seeder.push(EventType::Install, installed, device.clone(), None);
                    seeder.engage(&device, installed);
                }
            }
            // Click injection: a click a few seconds before an install that would have happened anyway.
            let injected = (seeder.rng.random_range(3..10) as f64 * scale) as u64;
            for _ in 0..injected {
                device_id += 1;
                let device = seeder.device(platform, device_id);
                let installed = day_start + seeder.rng.random_range(0..86_400_000);
                if installed <= now {
                    seeder.push(
                        EventType::Click,
                        installed - 3_000,
                        device.clone(),
                        Some(link_ref(&shady)),
                    );
                    seeder.push(EventType::Install, installed, device, None);
                }
            }
        }
        let mut records = std::mem::take(&mut seeder.records);
        records.sort_by_key(|r| r.timestamp_ms);
        total += records.len();
        for chunk in records.chunks(2000) {
            let entries = chunk
                .iter()
                .map(|event| {
                    let payload = LogRecord::Event(event.clone())
                        .encode()
                        .map_err(|e| anyhow::anyhow!("encoding demo traffic: {e}"))?;
                    Ok(Entry { key: event.dedup_key(), payload })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            state
                .log
                .append(entries)
                .await
                .map_err(|e| anyhow::anyhow!("appending demo traffic: {e}"))?;
        }
    }
    tracing::info!(records = total, "demo traffic appended");
    Ok(login(total))
}

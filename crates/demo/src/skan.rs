//! The demo iOS app's SKAdNetwork side: a conversion-value schema (revenue buckets and a
//! tutorial event) and a month of postbacks from the demo networks. They are made up here, so
//! they carry no Apple signature: they are stored directly, as the receiver stores verified ones.

use rand::{Rng, SeedableRng};
use unmogrowp_domain::Day;
use unmogrowp_domain::skan::{CoarseRule, CoarseValue, ConversionSchema, FineRule, SkanPostback};
use unmogrowp_server::state::AppState;
use unmogrowp_storage::{App, Membership};

fn bucket(value: u8, event: Option<&str>, min: f64, max: Option<f64>) -> FineRule {
    FineRule { value, event: event.map(str::to_owned), revenue_min: Some(min), revenue_max: max }
}

/// The demo schema: 0 a plain install, 1 the tutorial, 10–14 revenue buckets; coarse values
/// by spend.
pub(crate) fn schema() -> ConversionSchema {
    ConversionSchema {
        fine: vec![
            FineRule {
                value: 1,
                event: Some("tutorial_complete".into()),
                revenue_min: None,
                revenue_max: None,
            },
            bucket(10, Some("purchase"), 0.01, Some(2.0)),
            bucket(11, Some("purchase"), 2.0, Some(5.0)),
            bucket(12, Some("purchase"), 5.0, Some(20.0)),
            bucket(13, Some("purchase"), 20.0, Some(50.0)),
            bucket(14, Some("purchase"), 50.0, None),
        ],
        coarse: vec![
            CoarseRule {
                value: CoarseValue::Medium,
                event: None,
                revenue_min: Some(0.01),
                revenue_max: Some(10.0),
            },
            CoarseRule {
                value: CoarseValue::High,
                event: None,
                revenue_min: Some(10.0),
                revenue_max: None,
            },
        ],
    }
}

/// Stores the schema and `days` days of postbacks for the iOS demo app; returns how many.
pub(crate) async fn seed(
    state: &AppState,
    membership: &Membership,
    app: &App,
    networks: &[(&str, &[&str], f64)],
    days: u32,
    scale: f64,
) -> anyhow::Result<usize> {
    let tenant = state
        .store
        .tenant::<unmogrowp_storage::tenant::AsOwner>(membership)
        .ok_or_else(|| anyhow::anyhow!("the demo account owns its organization"))?;
    tenant.set_skan_schema(&app.id, &schema(), app.created_at).await?;
    let store_id = unmogrowp_domain::skan::app_store_id(&app.store_url).unwrap_or(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(u64::try_from(app.created_at).unwrap_or(9));
    let credentials = state.store.credentials();
    let now = jiff::Timestamp::now().as_millisecond();
    let mut stored = 0;
    for day in 0..i64::from(days) {
        let at = now - (i64::from(days) - day) * 86_400_000;
        let report_day = Day::of_utc_millis(at);
        for (index, (network, campaigns, conversion)) in networks.iter().enumerate() {
            for (campaign_index, _) in campaigns.iter().enumerate() {
                let installs = (rng.random_range(8.0..20.0) * conversion * 10.0 * scale) as u32;
                for n in 0..installs {
                    let v4 = rng.random_bool(0.7);
                    let fine = match rng.random_range(0..10) {
                        0..=3 => Some(0),
                        4..=5 => Some(1),
                        6..=8 => Some(rng.random_range(10..=14)),
                        _ => None,
                    };
                    for sequence_index in 0..if v4 { 3 } else { 1 } {
                        let coarse = (v4 && sequence_index > 0).then(|| {
                            [CoarseValue::Low, CoarseValue::Medium, CoarseValue::High]
                                [rng.random_range(0..3)]
                        });
                        let postback = SkanPostback {
                            version: if v4 { "4.0" } else { "3.0" }.to_owned(),
                            ad_network_id: format!("{network}.skadnetwork"),
                            campaign: format!("{}", 10 * (index + 1) + campaign_index),
                            app_store_id: store_id,
                            transaction_id: format!("demo-{day}-{index}-{campaign_index}-{n}"),
                            redownload: rng.random_bool(0.08),
                            source_app_id: None,
                            source_domain: None,
                            fidelity_type: Some(1),
                            did_win: Some(true),
                            conversion_value: if sequence_index == 0 { fine } else { None },
                            coarse_value: coarse,
                            sequence_index,
                        };
                        let received = at + i64::from(sequence_index) * 3 * 86_400_000;
                        if received > now {
                            continue;
                        }
                        let day = if sequence_index == 0 {
                            report_day
                        } else {
                            Day::of_utc_millis(received)
                        };
                        if credentials
                            .record_skan_postback(&app.org_id, &app.id, &postback, day, received)
                            .await?
                        {
                            stored += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(stored)
}

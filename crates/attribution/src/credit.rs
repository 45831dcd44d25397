//! Multi-touch credit: how an install is shared among the touchpoints that qualified for it.

use crate::Millis;

/// Multi-touch models for reports.
pub use unmogrowp_domain::attribution::Model;

const HALF_LIFE_MS: f64 = 7.0 * 24.0 * 3_600_000.0;

/// Credit per touchpoint (touch times oldest first); the weights sum to 1.
pub fn weights(model: Model, touch_times: &[Millis], install_at: Millis) -> Vec<f64> {
    let n = touch_times.len();
    if n == 0 {
        return Vec::new();
    }
    match model {
        Model::LastTouch => (0..n).map(|i| if i + 1 == n { 1.0 } else { 0.0 }).collect(),
        Model::Linear => vec![1.0 / n as f64; n],
        Model::TimeDecay => {
            let raw: Vec<f64> = touch_times
                .iter()
                .map(|at| 0.5f64.powf(((install_at - at).max(0)) as f64 / HALF_LIFE_MS))
                .collect();
            let sum: f64 = raw.iter().sum();
            raw.into_iter().map(|w| w / sum).collect()
        }
        Model::PositionBased => match n {
            1 => vec![1.0],
            2 => vec![0.5, 0.5],
            _ => {
                let middle = 0.2 / (n - 2) as f64;
                (0..n).map(|i| if i == 0 || i + 1 == n { 0.4 } else { middle }).collect()
            }
        },
    }
}

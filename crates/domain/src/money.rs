//! Currencies and the reference rates used to report revenue in an app's currency.
//!
//! The built-in table holds approximate reference rates (units of the currency per US dollar)
//! for the currencies apps most often earn in. They are a fallback, not market data: set
//! `currency_rates` in the configuration to the rates your finance team uses.

use std::collections::HashMap;

/// Units of each currency per 1 USD (approximate reference values).
pub const DEFAULT_RATES_PER_USD: &[(&str, f64)] = &[
    ("USD", 1.0),
    ("EUR", 0.92),
    ("GBP", 0.79),
    ("JPY", 150.0),
    ("CNY", 7.2),
    ("INR", 83.0),
    ("BRL", 5.0),
    ("CAD", 1.36),
    ("AUD", 1.52),
    ("KRW", 1340.0),
    ("RUB", 92.0),
    ("MXN", 17.0),
    ("IDR", 15600.0),
    ("TRY", 32.0),
    ("CHF", 0.88),
    ("SEK", 10.5),
    ("NOK", 10.6),
    ("DKK", 6.9),
    ("PLN", 4.0),
    ("CZK", 23.0),
    ("HUF", 360.0),
    ("ZAR", 18.7),
    ("SGD", 1.34),
    ("HKD", 7.8),
    ("TWD", 31.5),
    ("THB", 35.5),
    ("VND", 24500.0),
    ("PHP", 56.0),
    ("MYR", 4.7),
    ("SAR", 3.75),
    ("AED", 3.67),
    ("ILS", 3.7),
    ("EGP", 47.0),
    ("NGN", 1500.0),
    ("ARS", 850.0),
    ("CLP", 940.0),
    ("COP", 3900.0),
    ("PEN", 3.75),
    ("NZD", 1.65),
    ("UAH", 39.0),
    ("PKR", 280.0),
    ("BDT", 110.0),
];

/// Whether `code` is one of the currencies in [`DEFAULT_RATES_PER_USD`]. The comparison is
/// exact: pass an upper-case ISO 4217 code (`EUR`, not `eur`). Revenue in any other currency
/// is refused at collection.
pub fn is_known_currency(code: &str) -> bool {
    DEFAULT_RATES_PER_USD.iter().any(|(known, _)| *known == code)
}

/// Converts amounts between currencies through USD.
#[derive(Clone, Debug)]
pub struct Rates {
    per_usd: HashMap<String, f64>,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            per_usd: DEFAULT_RATES_PER_USD
                .iter()
                .map(|(code, rate)| ((*code).to_owned(), *rate))
                .collect(),
        }
    }
}

impl Rates {
    /// The built-in table with `overrides` (units per USD) applied.
    pub fn with_overrides(overrides: &HashMap<String, f64>) -> Self {
        let mut rates = Self::default();
        for (code, rate) in overrides {
            if rate.is_finite() && *rate > 0.0 {
                rates.per_usd.insert(code.to_ascii_uppercase(), *rate);
            }
        }
        rates
    }

    /// `amount` in `from`, expressed in `to`; `None` for an unknown currency.
    pub fn convert(&self, amount: f64, from: &str, to: &str) -> Option<f64> {
        if from == to {
            return Some(amount);
        }
        let from_rate = self.per_usd.get(from)?;
        let to_rate = self.per_usd.get(to)?;
        Some(amount / from_rate * to_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_through_usd() {
        let rates = Rates::default();
        assert_eq!(rates.convert(10.0, "EUR", "EUR"), Some(10.0));
        let usd = rates.convert(9.2, "EUR", "USD").unwrap_or_default();
        assert!((usd - 10.0).abs() < 1e-9);
        assert!(rates.convert(1.0, "EUR", "XXX").is_none());
        let custom = Rates::with_overrides(&HashMap::from([("EUR".to_owned(), 0.5)]));
        assert!((custom.convert(1.0, "EUR", "USD").unwrap_or_default() - 2.0).abs() < 1e-9);
    }
}

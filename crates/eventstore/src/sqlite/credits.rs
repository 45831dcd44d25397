//! Multi-touch credit in the summary report: the rollup's last-touch installs replaced by a
//! model's fractional shares.

use crate::{Result, SummaryQuery, SummaryRow};
use rusqlite::{Connection, params};

/// Replaces each group's `installs` by the model's fractional credit.
pub(super) fn credit_installs(
    connection: &Connection,
    query: &SummaryQuery,
    model: &str,
    rows: &mut Vec<SummaryRow>,
) -> Result<()> {
    let columns: Vec<&str> = query.group_by.iter().map(|d| d.column()).collect();
    let select_dims =
        if columns.is_empty() { String::new() } else { format!("{}, ", columns.join(", ")) };
    let group =
        if columns.is_empty() { String::new() } else { format!("GROUP BY {}", columns.join(", ")) };
    let sql = format!(
        "SELECT {select_dims} SUM(installs) FROM credit_rollups
         WHERE app_id = ?1 AND model = ?2 AND day >= ?3 AND day <= ?4
           AND (?5 IS NULL OR network = ?5) AND (?6 IS NULL OR campaign = ?6) AND (?7 IS NULL OR country = ?7)
         {group}"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let credited = statement.query_map(
        params![
            query.app_id.as_str(),
            model,
            &*query.from_day.text(),
            &*query.to_day.text(),
            query.network,
            query.campaign,
            query.country
        ],
        |row| {
            let mut key = Vec::new();
            for index in 0..query.group_by.len() {
                key.push(row.get::<_, Option<String>>(index)?);
            }
            Ok((key, row.get::<_, Option<f64>>(query.group_by.len())?.unwrap_or(0.0)))
        },
    )?;
    let credited = credited.collect::<rusqlite::Result<Vec<_>>>()?;
    crate::model::merge_credits(&query.group_by, rows, credited);
    Ok(())
}

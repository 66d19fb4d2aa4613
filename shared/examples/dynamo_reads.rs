//! `make bench`'s DynamoDB read: ROWS activities of one organisation in a
//! year, read for an export the way it reads them (a month per query,
//! several months at once) and as one sequential Query stream, RUNS times
//! each, taking turns. Prints one line: the medians, their ratio, and the
//! queries and items each read cost (items read = items in the period
//! means one pass).
//!
//! `dynamo_reads ROWS RUNS [ENDPOINT]`: the DynamoDB API at ENDPOINT
//! (`make bench` passes dynalite's), or moto (the one this process
//! starts, or `MOTO_ENDPOINT`).

use std::time::Instant;

use bufdir_testing::moto;
use chrono::NaiveDate;
use futures::StreamExt;
use shared::adapters::aws::DynamoActivities;
use shared::ports::{ActivityQuery, ActivitySource};

async fn read(source: &DynamoActivities, q: &ActivityQuery) -> (f64, u64) {
    let started = Instant::now();
    let rows = source.stream(q.clone()).map(|a| a.expect("a readable activity")).count().await as u64;
    (started.elapsed().as_secs_f64(), rows)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (rows, runs, endpoint) = match args.as_slice() {
        [_, rows, runs] => (rows.parse::<u64>()?, runs.parse::<usize>()?, None),
        [_, rows, runs, endpoint] => (rows.parse()?, runs.parse()?, Some(endpoint.as_str())),
        _ => return Err("usage: dynamo_reads ROWS RUNS [ENDPOINT]".into()),
    };
    let c = match endpoint {
        Some(url) => moto::clients_for(url).await,
        None => moto::clients().await,
    };
    let table = moto::unique("bench-activities");
    moto::create_activities_table(&c, &table).await;
    let seeded = DynamoActivities::new(c.dynamodb.clone(), &table)
        .writer()
        .put_all(shared::demo::generate("org-bench", rows, 2025..=2025, 1))
        .await?;
    let q = ActivityQuery {
        org_id: "org-bench".into(),
        from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        types: vec![],
    };
    let months = DynamoActivities::new(c.dynamodb.clone(), &table);
    let single = DynamoActivities::new(c.dynamodb.clone(), &table).in_one_stream();
    let (mut t_months, mut t_single) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (t, n) = read(&months, &q).await;
        assert_eq!(n, seeded, "the months read every activity");
        t_months.push(t);
        let (t, n) = read(&single, &q).await;
        assert_eq!(n, seeded, "the single stream read every activity");
        t_single.push(t);
    }
    let (m, s) = (median(t_months), median(t_single));
    let (rm, rs) = (months.reads(), single.reads());
    println!(
        "rows {seeded} months_s {m:.3} single_s {s:.3} speedup {:.2} months_queries {} months_items {} single_queries {} single_items {} most_in_flight {}",
        s / m,
        rm.queries / runs as u64,
        rm.items / runs as u64,
        rs.queries / runs as u64,
        rs.items / runs as u64,
        rm.most_in_flight
    );
    Ok(())
}

use std::time::Duration;

use shared::adapters::embedded::jwt_for;

use super::DataDirArg;

#[derive(clap::Args)]
pub struct TokenArgs {
    /// Organisation the token may act for (repeat for several).
    #[arg(long = "org", required_unless_present = "admin")]
    orgs: Vec<String>,
    /// Act for every organisation.
    #[arg(long)]
    admin: bool,
    /// Hours the token stays valid.
    #[arg(long, default_value_t = 12)]
    ttl_hours: u64,
    /// The token's subject, recorded on the exports it creates.
    #[arg(long, default_value = "local-user")]
    subject: String,
    #[command(flatten)]
    data: DataDirArg,
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=24 * 365).contains(&args.ttl_hours), "--ttl-hours must be from 1 to 8760");
    let jwt = jwt_for(&args.data.data_dir)?;
    println!("{}", jwt.issue(&args.subject, &args.orgs, args.admin, Duration::from_secs(args.ttl_hours * 3600)));
    Ok(())
}

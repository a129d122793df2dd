//! `cubby hub …` command line.
#[derive(Debug, clap::Args)]
pub struct HubArgs {}
pub async fn run(_args: HubArgs) -> anyhow::Result<()> {
    anyhow::bail!("the reference hub is being written")
}

use anyhow::{Result, bail};

use crate::{Env, Outcome};

pub async fn run(_env: &Env, _o: &mut Outcome) -> Result<()> {
    bail!("not implemented yet")
}

//! Writes a plain song SECONDS long to FILE (`long_song SECONDS FILE`): a note every 2 s, for
//! measuring long renders (see docs/performance.md).

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(seconds), Some(file)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: long_song SECONDS FILE");
    };
    let seconds: u32 = seconds.parse().context("SECONDS must be a whole number")?;
    let bytes = open_nsynth::demo::long_song_bytes(seconds);
    open_nsynth::atomic::write_bytes(file.as_ref(), &bytes, Default::default())
        .with_context(|| format!("cannot write {file}"))?;
    Ok(())
}

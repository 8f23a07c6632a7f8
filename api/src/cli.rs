//! The `keel` command line: parses it, sets up logging and runs one subcommand. Startup errors
//! are printed as one line on stderr with a non-zero exit code. The `keel` binary is this
//! function behind a global allocator; tests run it as a real child process the same way.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::config::{Cli, Command};
use crate::{app, graphql, telemetry};

/// Runs `keel` with the process's arguments and environment.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => err.exit(),
        Err(err) => {
            // clap's first line names the flag and the problem; its usage hints are noise here.
            let rendered = err.render().to_string();
            eprintln!("{}", rendered.lines().find(|line| !line.trim().is_empty()).unwrap_or("invalid arguments"));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let otlp = cli.global.otlp_endpoint.clone().map(|endpoint| telemetry::OtlpSettings {
        endpoint,
        protocol: cli.global.otlp_protocol,
        sample_ratio: cli.global.otlp_sample_ratio,
    });
    let telemetry = match telemetry::init(
        cli.global.effective_log_format(),
        &cli.global.log,
        otlp.as_ref(),
        runtime.handle().clone(),
    ) {
        Ok(telemetry) => telemetry,
        Err(reason) => {
            eprintln!("error: {reason}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli));
    // The runtime still runs: the last traces are sent on it.
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", format!("{err:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(&cli.global, &cli.serve).await,
        Some(Command::Serve(serve_args)) => serve(&cli.global, &serve_args).await,
        Some(Command::Migrate { action }) => app::migrate(&cli.global, action).await,
        Some(Command::Schema) => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Some(Command::Tenant { action }) => app::tenant(&cli.global, action, owner_password).await,
        Some(Command::Seed(args)) => {
            app::seed::seed(&cli.global, &args, std::env::var("KEEL_OWNER_PASSWORD").ok()).await
        }
    }
}

/// The owner password for `keel tenant create`: KEEL_OWNER_PASSWORD, else the first line of
/// standard input (so it never sits in shell history or `ps` output).
fn owner_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("KEEL_OWNER_PASSWORD") {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|err| anyhow::anyhow!("reading the owner password from stdin: {err}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn serve(global: &crate::config::GlobalArgs, serve: &crate::config::ServeArgs) -> anyhow::Result<()> {
    let server = app::Server::build(global, serve).await?;
    server.run(app::shutdown_signal()).await
}

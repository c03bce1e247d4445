//! The `cloudrun` command: the local server, token management, the demo, and the engines the runner starts.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use cloudrun_core::config::Config;
use cloudrun_local::app::{database_path, serve};
use cloudrun_local::store::SqliteStore;

#[derive(Parser)]
#[command(name = "cloudrun", version, about = "Run WRF as a service, on this machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Folder for the database, files and run directories.
    #[arg(long, env = "CLOUDRUN_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Configuration file (TOML); defaults to <data-dir>/cloudrun.toml when that exists.
    #[arg(long, env = "CLOUDRUN_CONFIG")]
    config: Option<PathBuf>,
}

impl Common {
    fn config_path(&self) -> Option<PathBuf> {
        cloudrun_local::worker::config_path(&self.data_dir, self.config.clone())
    }

    fn load_config(&self) -> Result<Config, String> {
        Config::load(self.config_path().as_deref()).map_err(|e| e.to_string())
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API under /v1/wrf.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address and port to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// URL clients reach this server at, used in upload URLs (default: http://<addr>).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Create or revoke API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Print the effective configuration as TOML.
    Config {
        #[command(flatten)]
        common: Common,
    },
    /// Run the bundled em_quarter_ss case through the whole API on a private server.
    Demo(cloudrun_local::demo::DemoArgs),
    /// Execute one run as a job of one node (started by the runner, not by hand).
    #[command(hide = true)]
    Worker {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        run_id: String,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Print a new token for USER; only its hash is stored.
    Create {
        #[command(flatten)]
        common: Common,
        /// The user the token acts for; each user sees only their own runs.
        #[arg(long)]
        user: String,
    },
    /// Remove one token, or every token of a user.
    #[command(group(clap::ArgGroup::new("target").required(true).args(["token", "user"])))]
    Revoke {
        #[command(flatten)]
        common: Common,
        /// The token to remove, as `token create` printed it.
        #[arg(long)]
        token: Option<String>,
        /// Remove every token of this user instead.
        #[arg(long)]
        user: Option<String>,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLOUDRUN_LOG").unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}

fn main() {
    let cli = Cli::parse();
    init_tracing();
    let runtime = tokio::runtime::Runtime::new().expect("the Tokio runtime starts");
    let code = match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    };
    std::process::exit(code);
}

/// Runs one command; returns the process exit code.
async fn run(command: Command) -> Result<i32, String> {
    match command {
        Command::Serve { common, addr, public_url } => {
            serve(common.load_config()?, &common.data_dir, common.config_path(), &addr, public_url).await?;
        }
        Command::Token { action } => token(action).await?,
        Command::Config { common } => print!("{}", common.load_config()?.to_toml()),
        Command::Demo(args) => cloudrun_local::demo::run(args).await?,
        Command::Worker { common, run_id } => {
            return cloudrun_local::worker::run(common.load_config()?, &common.data_dir, &run_id).await;
        }
    }
    Ok(0)
}

async fn token(action: TokenAction) -> Result<(), String> {
    let open = |common: &Common| {
        std::fs::create_dir_all(&common.data_dir).map_err(|e| format!("cannot create {}: {e}", common.data_dir.display()))?;
        SqliteStore::open(&database_path(&common.data_dir)).map_err(|e| e.to_string())
    };
    match action {
        TokenAction::Create { common, user } => {
            let user = user.trim();
            if user.is_empty() {
                return Err("--user must not be empty".into());
            }
            let token = open(&common)?.create_token(user).await.map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        TokenAction::Revoke { common, token, user } => {
            let store = open(&common)?;
            match (token, user) {
                (Some(token), _) => match store.revoke_token(&token).await.map_err(|e| e.to_string())? {
                    true => Ok(eprintln!("token revoked")),
                    false => Err("no such token".into()),
                },
                (None, Some(user)) => {
                    let count = store.revoke_user(&user).await.map_err(|e| e.to_string())?;
                    eprintln!("{count} token(s) of {user} revoked");
                    Ok(())
                }
                (None, None) => Err("give --token or --user".into()),
            }
        }
    }
}

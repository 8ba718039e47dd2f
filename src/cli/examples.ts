/**
 * Examples at the end of each command's `--help` (the scan command keeps its own, with the exit
 * codes, beside its options). Kept apart from the commands' definitions: words, not wiring.
 */
import type { Command } from 'commander';

const EXAMPLES: Record<string, string> = {
  serve: `
Examples:
  modelgate serve                                        upstream https://huggingface.co on 127.0.0.1:8080
  modelgate serve --policy policy.yaml --port 9000
  modelgate hub --dir fixtures/repos --port 8081 &       offline: a local hub as the upstream
  modelgate serve --upstream http://127.0.0.1:8081
  export HF_ENDPOINT=http://127.0.0.1:8080               then use huggingface_hub, transformers... as usual

Exit codes: 0 stopped (Ctrl-C, SIGTERM), 2 usage error (bad flag, config, policy or store; one line on stderr).
`,
  policy: `
Examples:
  modelgate policy test --policy policy.yaml pytorch_model.bin config.json
  modelgate scan -f json -o report.json ./models/llama
  modelgate policy test --policy policy.yaml --group research --repo meta-llama/Llama-3.1-8B report.json
`,
  hub: `
Examples:
  modelgate hub --dir fixtures/repos                     the repository's test repositories on :8081
  modelgate hub --dir ./models --port 8081 --lfs-redirect
  HF_ENDPOINT=http://127.0.0.1:8081 python -c "from huggingface_hub import hf_hub_download; print(hf_hub_download('acme/tiny-bert', 'config.json'))"
`,
  crawl: `
Examples:
  modelgate crawl --author acme --wait                   every repository of acme, then wait for the workers
  modelgate crawl --from-file repos.txt --redis redis://queue:6379
  modelgate crawl --search bert --datasets --rate 2
`,
  worker: `
Examples:
  modelgate worker --store postgres://crawl@db/crawl
  modelgate worker --store results.db --concurrency 8 --metrics-port 9464
`,
  report: `
Examples:
  modelgate report --store results.db                    Markdown on stdout
  modelgate report --store postgres://crawl@db/crawl -f html -o study.html
  modelgate report --store results.db -f json --threshold high
`,
};

const POLICY_TEST = `
Examples:
  modelgate policy test pytorch_model.bin                the built-in default policy
  modelgate policy test --policy policy.yaml --waivers waivers.yaml --now 2026-01-01T00:00:00Z ./models/llama
  modelgate policy test --policy policy.yaml --user-agent 'hf_hub/0.30.2; torch/2.5.1' -f json report.json
`;

export function addExamples(program: Command): void {
  for (const cmd of program.commands) {
    const text = EXAMPLES[cmd.name()];
    if (text) cmd.addHelpText('after', text);
    if (cmd.name() === 'policy') cmd.commands.find((c) => c.name() === 'test')?.addHelpText('after', POLICY_TEST);
  }
  program.addHelpText('after', `
Examples:
  modelgate scan model.pt                                scan files and directories ('modelgate scan --help')
  modelgate serve                                        the scanning gateway ('modelgate serve --help')
  modelgate <command> --help                             a command's options, examples and exit codes
`);
}

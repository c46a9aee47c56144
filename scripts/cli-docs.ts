import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { program } from '../src/cli.js';
import { PACKAGE_ROOT } from '../src/util/package-root.js';

export const CLI_DOCS = join(PACKAGE_ROOT, 'docs', 'cli.md');

/** docs/cli.md: every command's --help, rendered from the same option definitions the CLI parses with. */
export function renderCliDocs(): string {
  const root = program();
  const sections = [root, ...root.commands].map((cmd) => {
    const name = cmd === root ? 'gemma' : `gemma ${cmd.name()}`;
    return `## \`${name}\`\n\n\`\`\`\n${cmd.helpInformation().trimEnd()}\n\`\`\`\n`;
  });
  return `# Command line\n\nGenerated from the option definitions in \`src/commands/\` by \`node dist/scripts/cli-docs.js\`; a test keeps it in sync.\n\n${sections.join('\n')}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) writeFileSync(CLI_DOCS, renderCliDocs());

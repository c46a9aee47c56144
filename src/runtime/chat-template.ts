import { Template } from '@huggingface/jinja';
import { GemmaError } from '../util/errors.js';
import { renderInBudget } from './template-budget.js';

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** Renders conversations with the model's own Jinja chat template (from tokenizer_config.json). */
export class ChatTemplate {
  constructor(private readonly source: string, private readonly bosToken: string) {
    try {
      // Parsed here to report a broken template when the model loads; renders parse it again in their worker.
      new Template(source);
    } catch (err) {
      throw new GemmaError(`the model's chat template does not parse: ${(err as Error).message}`);
    }
  }

  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return renderInBudget(this.source, { messages, bos_token: this.bosToken, add_generation_prompt: addGenerationPrompt });
    } catch (err) {
      if (err instanceof GemmaError) throw err;
      throw new GemmaError(`chat template: ${(err as Error).message}`);
    }
  }
}

/**
 * Gemma's template has no system role (it raises). The instructions go at the top of
 * the first user turn instead, separated by a blank line, as Gemma's model card suggests.
 */
export function foldSystem(system: string | undefined, firstUserMessage: string): string {
  return system === undefined || system === '' ? firstUserMessage : `${system}\n\n${firstUserMessage}`;
}

import { Template } from '@huggingface/jinja';
import { GemmaError } from '../util/errors.js';

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** Renders conversations with the model's own Jinja chat template (from tokenizer_config.json). */
export class ChatTemplate {
  private readonly template: Template;

  constructor(source: string, private readonly bosToken: string) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new GemmaError(`the model's chat template does not parse: ${(err as Error).message}`);
    }
  }

  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.template.render({ messages, bos_token: this.bosToken, add_generation_prompt: addGenerationPrompt });
    } catch (err) {
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

import { Template } from '@huggingface/jinja';
import { GemmaError } from '../util/errors.js';
import { renderInBudget } from './template-budget.js';

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

/**
 * Renderings kept per template: a chat renders each earlier turn's prefix again on every turn (docs/runtime.md,
 * "Tokens"), and each render is a round trip to the template's worker. A few hundred cover a long chat.
 */
const KEPT_RENDERINGS = 512;

/** Renders conversations with the model's own Jinja chat template (from tokenizer_config.json). */
export class ChatTemplate {
  /** Earlier renderings by their input: a template is a function of its messages, so they are reused as they are. */
  private readonly rendered = new Map<string, string>();

  /** `capacity`: how many renderings are kept, each holding its messages' text twice. */
  constructor(private readonly source: string, private readonly bosToken: string, private readonly capacity = KEPT_RENDERINGS) {
    try {
      // Parsed here to report a broken template when the model loads; renders parse it again in their worker.
      new Template(source);
    } catch (err) {
      throw new GemmaError(`the model's chat template does not parse: ${(err as Error).message}`);
    }
  }

  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    const key = JSON.stringify([messages, addGenerationPrompt]);
    const kept = this.rendered.get(key);
    if (kept !== undefined) {
      // Moved to the back: the least recently used rendering is the one dropped.
      this.rendered.delete(key);
      this.rendered.set(key, kept);
      return kept;
    }
    try {
      const text = renderInBudget(this.source, { messages, bos_token: this.bosToken, add_generation_prompt: addGenerationPrompt });
      if (this.rendered.size >= this.capacity) this.rendered.delete(this.rendered.keys().next().value!);
      this.rendered.set(key, text);
      return text;
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

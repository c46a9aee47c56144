/** What every command that takes a checkpoint accepts (model-source.ts resolves them). */
const CHECKPOINT_KINDS = 'a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer files), a Hub repo id (org/name, downloaded as gemma pull does) or tiny-random';

/** The positional argument of quantize: [name, help]. */
export const CHECKPOINT_ARGUMENT: [string, string] = ['<checkpoint>', CHECKPOINT_KINDS];

/** The positional argument of run, eval and bench (resolve-model.ts), which also take an export. */
export const MODEL_ARGUMENT: [string, string] = ['<model>', `an export folder (gemma quantize), or one of these, converted to int4 on first use and then reused: ${CHECKPOINT_KINDS}`];

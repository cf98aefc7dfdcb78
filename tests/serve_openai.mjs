// tt serve with the official `openai` npm package (run by tests/test_serve.c).
// usage: node serve_openai.mjs BASE_URL COMPLETION_TEXT CHAT_TEXT
// COMPLETION_TEXT: what `tt generate` makes of "ROMEO:" (30 tokens, seed 7,
// temperature 0.9); CHAT_TEXT: of the play-script prompt of one user message
// "hi" (30 tokens, seed 4, stop "\n\n"). NODE_PATH names the package's folder.
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
const OpenAI = require('openai');
const [baseURL, wantCompletion, wantChat] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
let passed = 0;

// completions
const c = await client.completions.create({
  model: 'gen_model', prompt: 'ROMEO:', max_tokens: 30, seed: 7, temperature: 0.9,
});
assert.equal(c.object, 'text_completion');
assert.equal(c.choices[0].text, wantCompletion);
assert.equal(c.usage.completion_tokens, [...wantCompletion].length);
passed++;

// streaming completions: the chunks add up to the same text
const stream = await client.completions.create({
  model: 'gen_model', prompt: 'ROMEO:', max_tokens: 30, seed: 7, temperature: 0.9, stream: true,
});
let text = '', finish = null;
for await (const chunk of stream) {
  text += chunk.choices[0].text;
  if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
}
assert.equal(text, wantCompletion);
assert.equal(finish, 'length');
passed++;

// chat, plain and streamed
const chat = await client.chat.completions.create({
  model: 'gen_model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 30, seed: 4,
});
assert.equal(chat.choices[0].message.content, wantChat);
const cs = await client.chat.completions.create({
  model: 'gen_model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 30, seed: 4,
  stream: true,
});
let chatText = '';
for await (const chunk of cs) chatText += chunk.choices[0]?.delta?.content ?? '';
assert.equal(chatText, wantChat);
passed++;

// an error: the SDK's BadRequestError with the param named
try {
  await client.completions.create({ model: 'gen_model', prompt: 'ab', top_p: 1.5 });
  assert.fail('top_p 1.5 was accepted');
} catch (e) {
  assert.ok(e instanceof OpenAI.BadRequestError, String(e));
  assert.equal(e.status, 400);
  assert.equal(e.param, 'top_p');
  assert.match(e.message, /top_p/);
}
passed++;
console.log(`openai client: ${passed} checks passed`);

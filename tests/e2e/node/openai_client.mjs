// Drives Tide's OpenAI-compatible server with the official `openai` SDK:
//   node openai_client.mjs BASE_URL MODEL
// Checks /v1/models, a non-streaming and a streaming chat completion, parallel_tool_calls
// false, a tool call round trip (the model calls `search`, the tool result goes back, the
// model answers), a completion, and that a bad request raises the SDK's BadRequestError with the param set.
// Exits non-zero with a message on the first failure.
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });

function check(cond, what) {
  if (!cond) {
    console.error("FAILED: " + what);
    process.exit(1);
  }
  console.log("ok: " + what);
}

const tools = [{
  type: "function",
  function: {
    name: "search",
    description: "search the corpus",
    parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
  },
}];
const question = [{ role: "user", content: "Find tide." }];

const models = await client.models.list();
check(models.data.some((m) => m.id === model), "models.list includes " + model);

// Non-streaming: the fine-tuned model calls the tool.
const first = await client.chat.completions.create({ model, messages: question, tools, temperature: 0, max_tokens: 60 });
const call = first.choices[0].message.tool_calls?.[0];
check(first.choices[0].finish_reason === "tool_calls", "finish_reason tool_calls (got " + first.choices[0].finish_reason + ")");
check(call && call.type === "function" && call.function.name === "search", "a search tool call: " + JSON.stringify(call));
check(JSON.parse(call.function.arguments).query === "tide", "arguments parse: " + call.function.arguments);
check(first.usage.prompt_tokens > 0 && first.usage.completion_tokens > 0, "usage reported");

// parallel_tool_calls false: the turn ends right after its first </tool_call> (before
// the <|im_end|> the model writes next), still one valid call.
const single = await client.chat.completions.create({
  model, messages: question, tools, temperature: 0, max_tokens: 60, parallel_tool_calls: false,
});
check(single.choices[0].finish_reason === "tool_calls" && single.choices[0].message.tool_calls?.length === 1,
      "parallel_tool_calls false: one call: " + JSON.stringify(single.choices[0].message));
check(single.choices[0].message.tool_calls[0].function.arguments === call.function.arguments, "the same call");
check(single.usage.completion_tokens < first.usage.completion_tokens,
      "stopped at </tool_call> (" + single.usage.completion_tokens + " < " + first.usage.completion_tokens + " tokens)");

// Streaming: the same call arrives as tool_call deltas, then [DONE].
const stream = await client.chat.completions.create({ model, messages: question, tools, temperature: 0, max_tokens: 60, stream: true });
let streamedName = "", streamedArgs = "", finish = null, chunks = 0;
for await (const chunk of stream) {
  chunks++;
  const choice = chunk.choices[0];
  if (!choice) continue;
  for (const tc of choice.delta.tool_calls ?? []) {
    streamedName += tc.function?.name ?? "";
    streamedArgs += tc.function?.arguments ?? "";
  }
  if (choice.finish_reason) finish = choice.finish_reason;
}
check(chunks >= 2 && streamedName === "search" && JSON.parse(streamedArgs).query === "tide", "streamed tool call");
check(finish === "tool_calls", "streamed finish_reason tool_calls");

// Round trip: the tool's result goes back; the model answers (whatever it says).
const followUp = await client.chat.completions.create({
  model,
  tools,
  temperature: 0,
  max_tokens: 20,
  messages: [...question, first.choices[0].message, { role: "tool", tool_call_id: call.id, content: "Tide is an agent-swarm runtime." }],
});
check(followUp.choices[0].message.role === "assistant", "an answer after the tool result");

const completion = await client.completions.create({ model, prompt: "The tide", max_tokens: 5 });
check(completion.choices[0].finish_reason === "length" && typeof completion.choices[0].text === "string", "completions");

try {
  await client.chat.completions.create({ model, messages: question, temperature: 9 });
  check(false, "temperature 9 must be refused");
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.status === 400, "BadRequestError for temperature 9");
  check(e.param === "temperature" || e.error?.param === "temperature", "error names the param");
}
console.log("all OpenAI SDK checks passed");

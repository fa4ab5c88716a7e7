// Drives Tide's tide.v1.Env gRPC service from Node with @grpc/grpc-js and
// @grpc/proto-loader, as a trainer in another language would:
//   node env_client.mjs HOST:PORT PROTO_ROOT
// ListWorlds; Reset (same seed, same task); Step with search and open (observations), a
// malformed action (an error observation), arguments that are not JSON (INVALID_ARGUMENT
// naming the field), an unknown episode (NOT_FOUND); Verify (a wrong answer scores below
// 1, with the steps counted); Close. Exits non-zero with a message on the first failure.
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import path from "node:path";

const [address, protoRoot] = process.argv.slice(2);

function check(cond, what) {
  if (!cond) {
    console.error("FAILED: " + what);
    process.exit(1);
  }
  console.log("ok: " + what);
}

const definition = protoLoader.loadSync(path.join(protoRoot, "tide/v1/env.proto"), {
  includeDirs: [protoRoot],
  keepCase: true,
  longs: String,
  defaults: true,
});
const tide = grpc.loadPackageDefinition(definition).tide.v1;
const env = new tide.Env(address, grpc.credentials.createInsecure());

// Promise wrapper: resolves with the response, or with {error} for a failed RPC.
function call(method, request) {
  return new Promise((resolve) => {
    const deadline = new Date(Date.now() + 30000);
    env[method](request, { deadline }, (error, response) => resolve(error ? { error } : response));
  });
}

const worlds = await call("ListWorlds", {});
check(!worlds.error, "ListWorlds answers");
const research = worlds.worlds.find((w) => w.name === "research");
check(research && research.task_families.includes("wide"), "research is listed with family wide");

const reset = { world: "research", task_family: "wide", seed: "7", items: 3 };
const ep = await call("Reset", reset);
check(!ep.error, "Reset answers: " + (ep.error && ep.error.details));
check(ep.episode_id.length > 0 && ep.prompt.length > 0, "Reset gives an episode id and a prompt");
check(ep.task_family === "wide" && ep.world === "research", "Reset names the world and family");
const names = ep.tools.map((t) => t.name);
check(names.includes("search") && names.includes("open"), "tools include search and open: " + names);
for (const t of ep.tools) check(JSON.parse(t.parameters_json).type === "object", t.name + " has a JSON Schema");
const task = JSON.parse(ep.task_json);
check(Array.isArray(task.entities) && task.entities.length === 3, "the public task lists 3 entities");

const again = await call("Reset", reset);
check(again.prompt === ep.prompt && again.task_json === ep.task_json && again.episode_id !== ep.episode_id,
  "same seed, same task, a new episode");

const entity = task.entities[0];
const step = (name, args) => call("Step", { episode_id: ep.episode_id, tool_call: { id: "c", name, arguments_json: args } });
const found = await step("search", JSON.stringify({ query: entity }));
check(!found.error && !found.is_error && found.step === 1, "search runs as step 1");
const hits = JSON.parse(found.observation);
const hit = hits.find((h) => h.title === entity);
check(hit && hit.doc_id, "a hit titled " + entity);
const opened = await step("open", JSON.stringify({ doc_id: hit.doc_id }));
check(!opened.error && !opened.is_error && opened.observation.includes(entity), "open returns the profile of " + entity);

const teleport = await step("teleport", "{}");
check(!teleport.error && teleport.is_error && teleport.observation.includes("unknown tool"), "a malformed action is an error observation");
const badJson = await step("search", "{\"query\": ");
check(badJson.error && badJson.error.code === grpc.status.INVALID_ARGUMENT &&
  badJson.error.details.includes("tool_call.arguments_json"), "arguments that are not JSON: INVALID_ARGUMENT naming the field");
const lost = await call("Step", { episode_id: "ep-nope", tool_call: { id: "c", name: "search", arguments_json: "{}" } });
check(lost.error && lost.error.code === grpc.status.NOT_FOUND, "an unknown episode is NOT_FOUND");
const atlantis = await call("Reset", { world: "atlantis", seed: "1" });
check(atlantis.error && atlantis.error.code === grpc.status.NOT_FOUND && atlantis.error.details.includes("known: research"),
  "an unknown world is NOT_FOUND listing the known ones");
const knobs = await call("Reset", { ...reset, knobs_json: "{\"hardness\": 9}" });
check(knobs.error && knobs.error.code === grpc.status.INVALID_ARGUMENT && knobs.error.details.includes("hardness"),
  "an unknown knob is INVALID_ARGUMENT naming it");

const verdict = await call("Verify", { episode_id: ep.episode_id, answer: "no idea" });
check(!verdict.error && verdict.reward < 1 && verdict.success === false, "a wrong answer scores below 1");
check(verdict.steps === 3 && verdict.error_steps === 1, "Verify counts the steps (3, one error)");
check(JSON.parse(verdict.details_json) !== null, "details_json is JSON");

const closed = await call("Close", { episode_id: ep.episode_id });
check(!closed.error, "Close answers");
const gone = await call("Verify", { episode_id: ep.episode_id, answer: "x" });
check(gone.error && gone.error.code === grpc.status.NOT_FOUND, "a closed episode is NOT_FOUND");

// The service has an rpc named Close, which shadows the client's own close().
grpc.Client.prototype.close.call(env);
console.log("all Env service checks passed");

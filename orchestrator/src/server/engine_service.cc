#include "engine_service.h"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "status_convert.h"
#include "tide/core/utf8.h"
#include "tide/engine/chat_template.h"

namespace tide::orchestrator {
namespace {

using nlohmann::json;

json MessagesJson(const google::protobuf::RepeatedPtrField<tide::v1::Message>& messages) {
  json out = json::array();
  for (const auto& m : messages) {
    json j = {{"role", m.role()}, {"content", m.content()}};
    if (!m.tool_call_id().empty()) j["tool_call_id"] = m.tool_call_id();
    if (!m.name().empty()) j["name"] = m.name();
    for (const auto& c : m.tool_calls()) {
      j["tool_calls"].push_back(
          {{"id", c.id()}, {"type", "function"}, {"function", {{"name", c.name()}, {"arguments", c.arguments_json()}}}});
    }
    out.push_back(std::move(j));
  }
  return out;
}

Result<json> ToolsJson(const google::protobuf::RepeatedPtrField<tide::v1::ToolSpec>& tools) {
  if (tools.empty()) return json();
  json out = json::array();
  for (int i = 0; i < tools.size(); ++i) {
    json params = json::object();
    if (!tools[i].parameters_json().empty()) {
      params = json::parse(tools[i].parameters_json(), nullptr, false);
      if (params.is_discarded() || !params.is_object()) {
        return InvalidArgument("tools[" + std::to_string(i) + "].parameters_json: not a JSON object");
      }
    }
    out.push_back({{"type", "function"},
                   {"function", {{"name", tools[i].name()}, {"description", tools[i].description()}, {"parameters", params}}}});
  }
  return out;
}

}  // namespace

EngineService::EngineService(engine::InferenceEngine* engine, std::string model_id, std::string config_json)
    : engine_(engine), model_id_(std::move(model_id)), config_json_(std::move(config_json)) {}

grpc::Status EngineService::Generate(grpc::ServerContext* ctx, const tide::v1::GenerateRequest* req,
                                     grpc::ServerWriter<tide::v1::GenerateResponse>* writer) {
  const engine::Tokenizer& tok = engine_->tokenizer();
  const int kinds = (!req->prompt().empty()) + (req->prompt_token_ids_size() > 0) + (req->messages_size() > 0);
  if (kinds != 1) {
    return ToGrpc(InvalidArgument("prompt: give exactly one of prompt, prompt_token_ids or messages"));
  }
  const bool chat = req->messages_size() > 0;
  engine::GenerateRequest gen;
  if (chat) {
    Result<json> tools = ToolsJson(req->tools());
    if (!tools.ok()) return ToGrpc(tools.status());
    engine::ChatTemplateOptions o;
    o.add_generation_prompt = true;
    o.enable_thinking = true;  // as the trainer renders turns: no injected empty <think> block
    Result<std::string> text = engine::RenderChat(MessagesJson(req->messages()), *tools, o);
    if (!text.ok()) return ToGrpc(InvalidArgument(text.status().message()));
    gen.prompt = tok.Encode(*text, true);
    for (const char* stop : {"<|im_end|>", "<|endoftext|>"}) {
      if (auto id = tok.AddedTokenId(stop)) gen.params.stop_token_ids.push_back(*id);
    }
  } else if (!req->prompt().empty()) {
    gen.prompt = tok.Encode(req->prompt(), false);
  } else {
    gen.prompt.assign(req->prompt_token_ids().begin(), req->prompt_token_ids().end());
  }
  const tide::v1::SamplingParams& sp = req->sampling();
  gen.params.sampling.temperature = sp.temperature();
  gen.params.sampling.top_p = sp.top_p() == 0.f ? 1.f : sp.top_p();
  gen.params.sampling.top_k = sp.top_k();
  gen.params.seed = sp.seed();
  gen.params.max_tokens = sp.max_tokens() == 0 ? 256 : sp.max_tokens();
  gen.params.stop.assign(sp.stop().begin(), sp.stop().end());
  gen.params.return_router_choices = sp.router_choices();

  const engine::UpdateQueue queue;
  Result<uint64_t> id = engine_->Submit(std::move(gen), queue.Callback());
  if (!id.ok()) return ToGrpc(id.status());
  std::string full;
  bool cancelled = false;
  while (true) {
    std::optional<engine::GenerationUpdate> next = queue.Pop(std::chrono::milliseconds(20));
    if (!next) {
      if (!cancelled && ctx->IsCancelled()) {
        engine_->Cancel(*id);  // the update with finished = true still comes
        cancelled = true;
      }
      continue;
    }
    engine::GenerationUpdate& u = *next;
    full += u.text;
    tide::v1::GenerateResponse out;
    for (const auto& t : u.tokens) {
      out.add_token_ids(t.id);
      if (sp.logprobs()) out.add_logprobs(t.logprob);
      if (sp.router_choices()) out.add_router_choices()->mutable_experts()->Assign(t.router_choices.begin(), t.router_choices.end());
    }
    for (const auto& row : u.prompt_router_choices) {
      out.add_prompt_router_choices()->mutable_experts()->Assign(row.begin(), row.end());
    }
    if (u.stop_token_id >= 0) out.set_stop_token_id(u.stop_token_id);
    if (!u.stop_router_choices.empty()) {
      out.mutable_stop_router_choice()->mutable_experts()->Assign(u.stop_router_choices.begin(), u.stop_router_choices.end());
    }
    out.set_text(ValidUtf8(u.text));
    if (u.finished) {
      if (!u.error.ok()) return ToGrpc(u.error);
      bool called_tools = false;
      if (chat) {
        const engine::ParsedAssistantOutput parsed = engine::ParseAssistantOutput(full);
        tide::v1::Message* m = out.mutable_message();
        m->set_role("assistant");
        m->set_content(ValidUtf8(parsed.content));
        for (size_t i = 0; i < parsed.tool_calls.size(); ++i) {
          tide::v1::ToolCall* c = m->add_tool_calls();
          c->set_id("call_" + std::to_string(*id) + "_" + std::to_string(i));
          c->set_name(ValidUtf8(parsed.tool_calls[i].name));
          c->set_arguments_json(ValidUtf8(parsed.tool_calls[i].arguments));
        }
        called_tools = !parsed.tool_calls.empty();
      }
      std::string reason = engine::FinishReasonName(u.finish_reason);
      if (called_tools && u.finish_reason == engine::FinishReason::kStop) reason = "tool_calls";
      out.set_finish_reason(reason);
      out.mutable_usage()->set_prompt_tokens(u.prompt_tokens);
      out.mutable_usage()->set_completion_tokens(u.completion_tokens);
      out.mutable_usage()->set_total_tokens(u.prompt_tokens + u.completion_tokens);
      writer->Write(out);
      return cancelled ? grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client") : grpc::Status::OK;
    }
    if (!writer->Write(out) && !cancelled) {
      engine_->Cancel(*id);
      cancelled = true;
    }
  }
}

grpc::Status EngineService::Tokenize(grpc::ServerContext*, const tide::v1::TokenizeRequest* req,
                                     tide::v1::TokenizeResponse* resp) {
  const engine::Tokenizer& tok = engine_->tokenizer();
  for (int32_t id : tok.Encode(req->text(), req->add_special_tokens())) {
    resp->add_token_ids(id);
    resp->add_tokens(ValidUtf8(tok.IdToToken(id)));
  }
  return grpc::Status::OK;
}

grpc::Status EngineService::ModelInfo(grpc::ServerContext*, const tide::v1::ModelInfoRequest*,
                                      tide::v1::ModelInfoResponse* resp) {
  const engine::ModelConfig& c = engine_->model_config();
  resp->set_model_id(model_id_);
  resp->set_config_json(config_json_);
  resp->set_num_parameters(c.NumParameters());
  resp->set_num_active_parameters(c.NumActiveParameters());
  resp->set_vocab_size(c.vocab_size);
  resp->set_max_position_embeddings(c.max_position_embeddings);
  const engine::InferenceEngine::Stats stats = engine_->stats();
  resp->set_forward_rows(stats.forward_rows);
  for (size_t l = 0; l < stats.expert_tokens.tokens.size(); ++l) {
    const std::vector<int64_t>& tokens = stats.expert_tokens.tokens[l];
    if (tokens.empty()) continue;  // a dense layer
    tide::v1::LayerExpertLoad* load = resp->add_expert_load();
    load->set_layer(static_cast<int32_t>(l));
    load->mutable_tokens()->Assign(tokens.begin(), tokens.end());
  }
  return grpc::Status::OK;
}

}  // namespace tide::orchestrator

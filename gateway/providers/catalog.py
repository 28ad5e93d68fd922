"""OpenAI-compatible providers as data: one row each, checked against the provider's API docs (``docs``)."""

from __future__ import annotations

from gateway.providers.base import (
    AUDIO,
    BATCHES,
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    FILES,
    FINE_TUNING,
    IMAGES,
    MODELS,
    MODERATIONS,
    RERANK,
    RESPONSES,
    ProviderSpec,
)

__all__ = [
    "PROVIDERS",
]

PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        slug="openai",
        name="OpenAI",
        base_url="https://api.openai.com/v1",
        docs="https://platform.openai.com/docs/api-reference",
    ),
    ProviderSpec(
        slug="302ai",
        name="302.AI",
        base_url="https://api.302.ai/v1",
        docs="https://doc-en.302.ai/api-296806205",
        endpoints=frozenset({CHAT, MODELS}),
    ),
    ProviderSpec(
        slug="ai21",
        name="AI21 Labs (Jamba)",
        # The Jurassic-2 per-model paths (/studio/v1/{model}/complete) were retired with those models.
        base_url="https://api.ai21.com/studio/v1",
        docs="https://docs.ai21.com/reference/jamba-1-6-api-ref",
        endpoints=frozenset({CHAT, MODELS}),
    ),
    ProviderSpec(
        slug="aibadgr",
        name="AI Badgr",
        # Its API docs give https://aibadgr.com/v1; Portkey's api.ts still uses /api/v1.
        base_url="https://aibadgr.com/v1",
        docs="https://www.aibadgr.com/docs",
        endpoints=frozenset({CHAT}),
    ),
    ProviderSpec(
        slug="baseten",
        name="Baseten Model APIs",
        # Dedicated deployments live on per-model hosts; route those with a base-URL override.
        base_url="https://inference.baseten.co/v1",
        docs="https://docs.baseten.co/reference/inference-api/chat-completions",
        endpoints=frozenset({CHAT, MODELS}),
    ),
    ProviderSpec(
        slug="bytez",
        name="Bytez (OpenAI-compatible API)",
        # Bytez documents OpenAI-compatible chat, completions and responses under this base, so the
        # model (org/name, e.g. Qwen/Qwen3-4B) goes in the body, never the path. Portkey calls the
        # native /models/v2/{model} API instead ({messages, stream, params} in, {error, output} out).
        base_url="https://api.bytez.com/models/v2/openai/v1",
        docs="https://docs.bytez.com/http-reference/oaiCompliant/chatCompletions",
        endpoints=frozenset({CHAT, COMPLETIONS, RESPONSES}),
    ),
    ProviderSpec(
        slug="cerebras",
        name="Cerebras",
        base_url="https://api.cerebras.ai/v1",
        docs="https://inference-docs.cerebras.ai",
        endpoints=frozenset({CHAT, COMPLETIONS, MODELS}),
    ),
    ProviderSpec(
        slug="dashscope",
        name="Alibaba Cloud Model Studio (Qwen / DashScope, international)",
        # Singapore endpoint; mainland China is dashscope.aliyuncs.com. The Responses API lives
        # under /api/v2/apps/protocols/compatible-mode/v1, outside this base, so it is not listed.
        base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        docs="https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
        endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS, FILES, BATCHES, MODELS}),
    ),
    ProviderSpec(
        slug="cometapi",
        name="CometAPI",
        base_url="https://api.cometapi.com/v1",
        docs="https://apidoc.cometapi.com/api/text/chat",
        endpoints=frozenset({CHAT, EMBEDDINGS, MODELS}),
    ),
    ProviderSpec(
        slug="cortex",
        name="Snowflake Cortex (Chat Completions API)",
        # The account identifier from x-portkey-snowflake-account (orgname-account or a locator with
        # its region) names the host. Portkey calls /api/v2/cortex/inference:complete; Snowflake
        # documents this OpenAI-compatible path. The key is a PAT, OAuth token or key-pair JWT.
        base_url="https://{snowflake-account}.snowflakecomputing.com/api/v2/cortex/v1",
        docs="https://docs.snowflake.com/en/user-guide/snowflake-cortex/open_ai_sdk",
        endpoints=frozenset({CHAT}),
    ),
    ProviderSpec(
        slug="deepinfra",
        name="DeepInfra",
        base_url="https://api.deepinfra.com/v1/openai",
        docs="https://deepinfra.com/docs/openai_api",
        endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS, IMAGES, AUDIO, FILES, BATCHES, MODELS}),
    ),
    ProviderSpec(
        slug="deepbricks",
        name="Deepbricks",
        base_url="https://api.deepbricks.ai/v1",
        docs="https://deepbricks.ai",
        endpoints=frozenset({CHAT, IMAGES}),
    ),
    ProviderSpec(
        slug="deepseek",
        name="DeepSeek",
        # FIM /completions is served only under https://api.deepseek.com/beta, so it is not listed.
        base_url="https://api.deepseek.com/v1",
        docs="https://api-docs.deepseek.com/",
        endpoints=frozenset({CHAT, MODELS}),
    ),
    ProviderSpec(
        slug="featherless-ai",
        name="Featherless AI",
        base_url="https://api.featherless.ai/v1",
        docs="https://featherless.ai/docs/api",
        endpoints=frozenset({CHAT, COMPLETIONS, MODELS}),
    ),
    ProviderSpec(
        slug="fireworks-ai",
        name="Fireworks AI",
        # Audio is served from a separate host (audio-prod), image generation from model-specific paths.
        base_url="https://api.fireworks.ai/inference/v1",
        docs="https://fireworks.ai/docs/api",
        # Files and batches go to the account API (fireworks.py), not to this base.
        endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS, RERANK, RESPONSES, MODELS, FILES, BATCHES}),
    ),
    ProviderSpec(
        slug="friendli",
        name="FriendliAI Serverless Endpoints",
        base_url="https://api.friendli.ai/serverless/v1",
        docs="https://friendli.ai/docs/guides/serverless_endpoints/introduction",
        endpoints=frozenset({CHAT, COMPLETIONS, MODELS}),
    ),
    ProviderSpec(
        slug="github",
        name="GitHub Models",
        # The model list is at https://models.github.ai/catalog/models, outside this base.
        base_url="https://models.github.ai/inference",
        docs="https://docs.github.com/en/rest/models/inference",
        endpoints=frozenset({CHAT, EMBEDDINGS}),
    ),
    ProviderSpec(
        slug="groq",
        name="Groq",
        base_url="https://api.groq.com/openai/v1",
        docs="https://console.groq.com/docs/api-reference",
        endpoints=frozenset({CHAT, RESPONSES, AUDIO, FILES, BATCHES, MODELS}),
    ),
    ProviderSpec(
        slug="huggingface",
        name="Hugging Face Inference Providers (router)",
        base_url="https://router.huggingface.co/v1",
        docs="https://huggingface.co/docs/inference-providers/index",
        endpoints=frozenset({CHAT, RESPONSES, MODELS}),
    ),
    ProviderSpec(
        slug="hyperbolic",
        name="Hyperbolic",
        # Images are at /v1/image/generation (singular), which is not the OpenAI images family.
        base_url="https://api.hyperbolic.xyz/v1",
        docs="https://docs.hyperbolic.ai/inference/overview",
        endpoints=frozenset({CHAT, COMPLETIONS, AUDIO, MODELS}),
    ),
    ProviderSpec(
        slug="inference-net",
        name="Inference.net",
        base_url="https://api.inference.net/v1",
        docs="https://docs.inference.net/",
        endpoints=frozenset({CHAT, COMPLETIONS, FILES, BATCHES, MODELS}),
    ),
    ProviderSpec(
        slug="iointelligence",
        name="IO Intelligence (io.net)",
        base_url="https://api.intelligence.io.solutions/api/v1",
        docs="https://io.net/docs/reference/ai-models/get-started-with-io-intelligence-api",
        endpoints=frozenset({CHAT, EMBEDDINGS, MODELS}),
    ),
    ProviderSpec(
        slug="jan",
        name="Jan (local API server)",
        # Jan requires the key configured in its settings, sent as a bearer token.
        base_url="http://127.0.0.1:1337/v1",
        docs="https://jan.ai/docs/desktop/api-preference",
        endpoints=frozenset({CHAT, MODELS}),
    ),
    ProviderSpec(
        slug="jina",
        name="Jina AI (Search Foundation: embeddings, reranker)",
        # Its embeddings take OpenAI's fields plus `task`, `dimensions`, `late_chunking`; rerank is
        # /v1/rerank (Cohere's shape), both with a bearer key.
        base_url="https://api.jina.ai/v1",
        docs="https://jina.ai/embeddings/",
        endpoints=frozenset({EMBEDDINGS, RERANK}),
    ),
    ProviderSpec(
        slug="kluster-ai",
        name="kluster.ai",
        base_url="https://api.kluster.ai/v1",
        docs="https://docs.kluster.ai/",
        endpoints=frozenset({CHAT, EMBEDDINGS, FILES, BATCHES, MODELS}),
    ),
    ProviderSpec(
        slug="krutrim",
        name="Krutrim Cloud (Ola)",
        base_url="https://cloud.olakrutrim.com/v1",
        docs="https://docs.cloud.olakrutrim.com/~/revisions/R3YmuRbo1BQTbXR88xJJ/basics/key-management-system/model-api-keys",
        endpoints=frozenset({CHAT}),
    ),
    ProviderSpec(
        slug="lemonfox-ai",
        name="Lemonfox.ai",
        base_url="https://api.lemonfox.ai/v1",
        docs="https://www.lemonfox.ai/whisper-api",
        endpoints=frozenset({CHAT, IMAGES, AUDIO}),
    ),
    ProviderSpec(
        slug="lingyi",
        name="01.AI Lingyiwanwu (Yi models, mainland China)",
        base_url="https://api.lingyiwanwu.com/v1",
        docs="https://platform.lingyiwanwu.com/docs",
        endpoints=frozenset({CHAT, MODELS}),
    ),
    ProviderSpec(
        slug="llama-cpp",
        name="llama.cpp server (llama-server)",
        base_url="http://localhost:8080/v1",
        docs="https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md",
    ),
    ProviderSpec(
        slug="lm-studio",
        name="LM Studio",
        base_url="http://localhost:1234/v1",
        docs="https://lmstudio.ai/docs/app/api/endpoints/openai",
    ),
    ProviderSpec(
        slug="localai",
        name="LocalAI",
        # Same default port as llama-server; override base_url when both run on one host.
        base_url="http://localhost:8080/v1",
        docs="https://localai.io/basics/getting_started/",
    ),
    ProviderSpec(
        slug="matterai",
        name="MatterAI",
        base_url="https://api.matterai.so/v1",
        docs="https://docs.matterai.so/api-reference/endpoint/completions",
        endpoints=frozenset({CHAT}),
    ),
    ProviderSpec(
        slug="minimax",
        name="MiniMax (international)",
        # Mainland China is https://api.minimaxi.com/v1.
        base_url="https://api.minimax.io/v1",
        docs="https://platform.minimax.io/docs/api-reference/text-openai-api",
        endpoints=frozenset({CHAT, RESPONSES, MODELS}),
    ),
    ProviderSpec(
        slug="mistral-ai",
        name="Mistral AI",
        # Mistral rejects unknown fields (422 extra_forbidden) and names the seed `random_seed`.
        # Its batch API is /v1/batch/jobs, not OpenAI's /v1/batches, so batches is not listed.
        base_url="https://api.mistral.ai/v1",
        docs="https://docs.mistral.ai/api/",
        endpoints=frozenset({CHAT, EMBEDDINGS, AUDIO, FILES, FINE_TUNING, MODERATIONS, MODELS}),
        param_renames={"seed": "random_seed"},
    ),
    ProviderSpec(
        slug="modal",
        name="Modal (your OpenAI-compatible web endpoint)",
        # Each deployment is its own host: a custom host is required. The key goes as a bearer
        # token when given; proxy-auth tokens go as the caller's Modal-Key / Modal-Secret headers.
        base_url="",
        docs="https://modal.com/docs/guide/webhook-proxy-auth",
        passed_headers=("Modal-Key", "Modal-Secret"),
    ),
    ProviderSpec(
        slug="monsterapi",
        name="MonsterAPI",
        base_url="https://llm.monsterapi.ai/v1",
        docs="https://developer.monsterapi.ai/reference/create_chat_completion_v1_chat_completions_post",
        endpoints=frozenset({CHAT}),
    ),
    ProviderSpec(
        slug="moonshot",
        name="Moonshot AI (Kimi, international)",
        # Mainland China is https://api.moonshot.cn/v1.
        base_url="https://api.moonshot.ai/v1",
        docs="https://platform.moonshot.ai/docs/api/chat",
        endpoints=frozenset({CHAT, FILES, MODELS}),
    ),
    ProviderSpec(
        slug="ncompass",
        name="nCompass",
        base_url="https://api.ncompass.tech/v1",
        docs="https://docs.ncompass.tech/api-reference/images_and_vision",
        endpoints=frozenset({CHAT}),
    ),
    ProviderSpec(
        slug="nebius",
        name="Nebius Token Factory (formerly Nebius AI Studio)",
        # The old api.studio.nebius.ai host is what older clients still default to.
        base_url="https://api.tokenfactory.nebius.com/v1",
        docs="https://docs.tokenfactory.nebius.com/api-reference/introduction",
        endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS, IMAGES, FILES, BATCHES, FINE_TUNING, MODELS}),
    ),
    ProviderSpec(
        slug="nextbit",
        name="NextBit",
        base_url="https://api.nextbit256.com/v1",
        docs="https://www.nextbit256.com",
        endpoints=frozenset({CHAT, COMPLETIONS}),
    ),
    ProviderSpec(
        slug="novita-ai",
        name="Novita AI",
        # Current docs use /openai/v1; the older https://api.novita.ai/v3/openai is still widely quoted.
        base_url="https://api.novita.ai/openai/v1",
        docs="https://novita.ai/docs/api-reference/model-apis-llm-create-chat-completion",
        endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS, IMAGES, BATCHES, FILES, MODELS}),
    ),
    ProviderSpec(
        slug="nscale",
        name="Nscale",
        base_url="https://inference.api.nscale.com/v1",
        docs="https://docs.nscale.com/api-reference",
        endpoints=frozenset({CHAT, IMAGES, MODELS}),
    ),
    ProviderSpec(
        slug="nvidia-nim",
        name="NVIDIA NIM (API catalog)",
        # Rerank and some retrieval models are served from ai.api.nvidia.com, not this host.
        base_url="https://integrate.api.nvidia.com/v1",
        docs="https://build.nvidia.com/",
        endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS, MODELS}),
    ),
    ProviderSpec(
        slug="ollama",
        name="Ollama",
        base_url="http://localhost:11434/v1",
        docs="https://docs.ollama.com/api/openai-compatibility",
    ),
    ProviderSpec(
        slug="openrouter",
        name="OpenRouter",
        base_url="https://openrouter.ai/api/v1",
        docs="https://openrouter.ai/docs/api-reference/overview",
        endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS, RESPONSES, MODELS}),
    ),
    ProviderSpec(
        slug="ovhcloud",
        name="OVHcloud AI Endpoints",
        # A key is optional (anonymous use is rate-limited); a key the caller sends is forwarded.
        base_url="https://oai.endpoints.kepler.ai.cloud.ovh.net/v1",
        docs="https://endpoints.ai.cloud.ovh.net/",
        endpoints=frozenset({CHAT, EMBEDDINGS, AUDIO, MODELS}),
    ),
    ProviderSpec(
        slug="perplexity-ai",
        name="Perplexity (Sonar API)",
        # No /v1: chat is https://api.perplexity.ai/chat/completions. The Agent API
        # (/v1/responses) sits under a different prefix and cannot share this base.
        base_url="https://api.perplexity.ai",
        docs="https://docs.perplexity.ai/docs/sonar/openai-compatibility",
        endpoints=frozenset({CHAT}),
    ),
    ProviderSpec(
        slug="recraft-ai",
        name="Recraft (image generation)",
        # Images only, in OpenAI's images request and answer shape.
        base_url="https://external.api.recraft.ai/v1",
        docs="https://www.recraft.ai/docs",
        endpoints=frozenset({IMAGES}),
    ),
    ProviderSpec(
        slug="reka-ai",
        name="Reka",
        # Reka's API reference is OpenAI-compatible (chat completions, models list, Bearer key).
        # Portkey calls the retired /chat API (conversation_history, X-Api-Key) instead.
        base_url="https://api.reka.ai/v1",
        docs="https://docs.reka.ai/chat/api-reference/create-chat-completion",
        endpoints=frozenset({CHAT, MODELS}),
    ),
    ProviderSpec(
        slug="sambanova",
        name="SambaNova Cloud",
        base_url="https://api.sambanova.ai/v1",
        docs="https://docs.sambanova.ai/docs/en/api-reference/endpoints/chat",
        endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS, AUDIO, MODELS}),
    ),
    ProviderSpec(
        slug="scaleway",
        name="Scaleway Generative APIs",
        base_url="https://api.scaleway.ai/v1",
        docs="https://www.scaleway.com/en/developers/api/generative-apis",
        endpoints=frozenset({CHAT, RESPONSES, EMBEDDINGS, AUDIO, MODELS}),
    ),
    ProviderSpec(
        slug="siliconflow",
        name="SiliconFlow (international)",
        # Mainland China is https://api.siliconflow.cn/v1 (Portkey's default).
        base_url="https://api.siliconflow.com/v1",
        docs="https://docs.siliconflow.com/en/api-reference/chat-completions/chat-completions",
        endpoints=frozenset(
            {
                CHAT,
                COMPLETIONS,
                EMBEDDINGS,
                RERANK,
                IMAGES,
                AUDIO,
                FILES,
                BATCHES,
                MODELS,
            }
        ),
    ),
    ProviderSpec(
        slug="together-ai",
        name="Together AI",
        # The OpenAPI spec moved its server to api.together.ai (was api.together.xyz).
        # Fine-tuning is /v1/fine-tunes, not OpenAI's /v1/fine_tuning, so it is not listed.
        base_url="https://api.together.ai/v1",
        docs="https://docs.together.ai/reference/chat-completions",
        endpoints=frozenset(
            {
                CHAT,
                COMPLETIONS,
                EMBEDDINGS,
                RERANK,
                IMAGES,
                AUDIO,
                FILES,
                BATCHES,
                MODELS,
            }
        ),
    ),
    ProviderSpec(
        slug="upstage",
        name="Upstage (Solar)",
        # Older clients use https://api.upstage.ai/v1/solar.
        base_url="https://api.upstage.ai/v1",
        docs="https://console.upstage.ai/api-keys?api=chat-reasoning",
        endpoints=frozenset({CHAT, EMBEDDINGS, MODELS}),
    ),
    ProviderSpec(
        slug="vllm",
        name="vLLM",
        # The key is optional (vllm serve --api-key); a key the caller sends is forwarded.
        base_url="http://localhost:8000/v1",
        docs="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
    ),
    ProviderSpec(
        slug="voyage",
        name="Voyage AI (embeddings, reranker)",
        # Embeddings in OpenAI's shape (plus `input_type`, `output_dimension`); rerank is /v1/rerank.
        base_url="https://api.voyageai.com/v1",
        docs="https://docs.voyageai.com/reference/embeddings-api",
        endpoints=frozenset({EMBEDDINGS, RERANK}),
    ),
    ProviderSpec(
        slug="workers-ai",
        name="Cloudflare Workers AI",
        # The account from x-portkey-workers-ai-account-id names the path. Portkey uses the native
        # /ai/run/{model}; Cloudflare documents these OpenAI-compatible endpoints.
        base_url="https://api.cloudflare.com/client/v4/accounts/{workers-ai-account-id}/ai/v1",
        docs="https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/",
        endpoints=frozenset({CHAT, EMBEDDINGS, RESPONSES}),
    ),
    ProviderSpec(
        slug="x-ai",
        name="xAI (Grok)",
        # Text-to-speech is /v1/tts, not the OpenAI audio family.
        base_url="https://api.x.ai/v1",
        docs="https://docs.x.ai/api-reference",
        endpoints=frozenset({CHAT, COMPLETIONS, EMBEDDINGS, RESPONSES, IMAGES, FILES, BATCHES, MODELS}),
    ),
    ProviderSpec(
        slug="z-ai",
        name="Z.ai open platform (GLM, international)",
        base_url="https://api.z.ai/api/paas/v4",
        docs="https://docs.z.ai/api-reference/llm/chat-completion",
        endpoints=frozenset({CHAT, IMAGES, AUDIO}),
    ),
    ProviderSpec(
        slug="zhipu",
        name="Zhipu AI BigModel open platform (GLM, mainland China)",
        base_url="https://open.bigmodel.cn/api/paas/v4",
        docs="https://docs.bigmodel.cn/openapi/openapi-en.json",
        endpoints=frozenset({CHAT, EMBEDDINGS, IMAGES, AUDIO, FILES, BATCHES, FINE_TUNING, MODERATIONS}),
    ),
)

"""The attention processor: CogVideoX's joint text-video attention with a choice of kernel.

Standard library at import time; torch, diffusers and the optional ``sageattention`` load when
the processor is built or called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inference.speed_levers import ATTENTION_KERNELS, SpeedError


class CogVideoXAttention:
    """CogVideoX's joint text-video attention with a choice of kernel.

    diffusers' own CogVideoX processors call ``F.scaled_dot_product_attention`` directly, so
    ``set_attention_backend`` does not reach them; this processor does the same work (fused
    or separate projections, QK norms, rotary embeddings on the video tokens) and sends the
    attention itself to ``kernel``: "sdpa" (PyTorch) or "sage" (SageAttention, 8-bit QK).
    """

    def __init__(self, kernel: str = "sdpa") -> None:
        if kernel not in ATTENTION_KERNELS:
            choices = ", ".join(ATTENTION_KERNELS)
            raise SpeedError(f"unknown attention kernel {kernel!r}: use one of {choices}")
        self.kernel = kernel
        self._attend = _kernel(kernel)

    def __call__(
        self,
        attn: Any,
        hidden_states: Any,
        encoder_hidden_states: Any,
        attention_mask: Any = None,
        image_rotary_emb: Any = None,
    ) -> tuple[Any, Any]:
        import torch

        text_length = encoder_hidden_states.size(1)
        hidden_states = torch.cat([encoder_hidden_states, hidden_states], dim=1)
        batch, length, _ = hidden_states.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, length, batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if getattr(attn, "fused_projections", False):
            query, key, value = attn.to_qkv(hidden_states).chunk(3, dim=-1)
        else:
            query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query, key, value = (
            t.view(batch, -1, attn.heads, head_dim).transpose(1, 2) for t in (query, key, value)
        )
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if image_rotary_emb is not None:
            from diffusers.models.embeddings import apply_rotary_emb

            query[:, :, text_length:] = apply_rotary_emb(query[:, :, text_length:], image_rotary_emb)
            if not attn.is_cross_attention:
                key[:, :, text_length:] = apply_rotary_emb(key[:, :, text_length:], image_rotary_emb)
        out = self._attend(query, key, value, attention_mask)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim)
        out = attn.to_out[1](attn.to_out[0](out))
        encoder_out, out = out.split([text_length, out.size(1) - text_length], dim=1)
        return out, encoder_out


def _kernel(name: str) -> Callable[[Any, Any, Any, Any], Any]:
    import torch.nn.functional as F

    if name == "sdpa":

        def sdpa(query: Any, key: Any, value: Any, mask: Any) -> Any:
            return F.scaled_dot_product_attention(
                query, key, value, attn_mask=mask, dropout_p=0.0, is_causal=False
            )

        return sdpa
    from sageattention import sageattn

    def sage(query: Any, key: Any, value: Any, mask: Any) -> Any:
        if mask is not None:  # CogVideoX passes none; the kernel takes none
            return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, is_causal=False)
        return sageattn(query, key, value, tensor_layout="HND", is_causal=False)

    return sage

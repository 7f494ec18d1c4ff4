// Inventory of a checkpoint: tensors by role and dtype, parameter and byte totals, layers, experts, shards.
// Built from headers only (no tensor data is read), or from the index alone when shards are absent.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "fromscratch/core/checkpoint.hpp"
#include "fromscratch/core/config_hint.hpp"

namespace fromscratch {

// JSON document (schema in results/SCHEMA.md, "inventory"). With list_tensors, every tensor with its role,
// dtype, shape, shard and offset.
nlohmann::json inventory_json(const Checkpoint& ck, const ConfigHint& hint, bool list_tensors);
// The same from model.safetensors.index.json alone: names, roles and shards; dtypes and shapes unknown.
nlohmann::json index_inventory_json(const ShardIndex& index, const ConfigHint& hint, bool list_tensors);
// Human-readable rendering of either document.
std::string inventory_text(const nlohmann::json& inventory);

}  // namespace fromscratch

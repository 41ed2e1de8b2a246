-- Argo CD health of drover's custom resources (group drover.dev): AvailabilityGroup, DrSite and
-- PersistentChatPool. One script serves the three kinds (Argo CD's Lua sandbox cannot load shared
-- code, and the kinds share their conditions and most phases); README.md beside it says how to
-- register it. Argo CD runs it with the resource in the global `obj`; it returns {status, message}.
--
-- Healthy      Ready is True for the generation the spec is at.
-- Progressing  drover has not observed the current generation yet, or a transition is running.
-- Suspended    spec.suspend (DrSite, PersistentChatPool): drover plans and reports, executes nothing.
-- Degraded     an invalid spec, a person must confirm a data loss or a lost site (the message
--              carries the command), a conflict over a child's desired site, a failed step, or
--              anything else that is not as declared and that drover cannot fix by itself.

local function find(status, type_)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function is_true(status, type_)
  local c = find(status, type_)
  return c ~= nil and c.status == "True"
end

-- The first non-empty message of these conditions, or `default`.
local function message_of(status, types, default)
  for _, type_ in ipairs(types) do
    local c = find(status, type_)
    if c ~= nil and c.message ~= nil and c.message ~= "" then
      return c.message
    end
  end
  return default
end

local function result(status, message)
  return { status = status, message = message }
end

-- Phases in which a transition is under way.
local moving = {
  Switchover = true,
  Failover = true,
  Failback = true,
  SwitchingOver = true,
  FailingOver = true,
  FailingBack = true,
  Starting = true,
}

-- What a person has to do about a pending data-loss confirmation.
local function data_loss(status)
  local text = message_of(status, { "DataLossConfirmationRequired" }, "")
  local request = status.confirmation
  if request ~= nil then
    if request.command ~= nil and not string.find(text, request.command, 1, true) then
      text = text .. "; confirm with: " .. request.command
    end
    local loss = "unknown"
    if request.knownLossSeconds ~= nil then
      loss = tostring(request.knownLossSeconds) .. " s"
    end
    if request.unknownSince ~= nil then
      loss = loss .. ", plus anything committed after " .. request.unknownSince
    end
    text = text .. " (estimated loss: " .. loss .. ")"
  end
  return "A forced failover waits for a person to confirm its data loss: " .. text
end

local function site_lost(status)
  local text = message_of(status, { "SiteLostConfirmationRequired" }, "")
  local request = status.siteLostConfirmation
  if request ~= nil and request.command ~= nil and not string.find(text, request.command, 1, true) then
    text = text .. "; confirm with: " .. request.command
  end
  return "A site must be confirmed lost before drover goes on: " .. text
end

local function health(obj)
  local status = obj.status
  local kind = obj.kind or "resource"
  if status == nil or status.observedGeneration == nil then
    return result("Progressing", "Waiting for drover to observe the " .. kind)
  end
  local generation = obj.metadata ~= nil and obj.metadata.generation or nil
  if generation ~= nil and status.observedGeneration < generation then
    return result(
      "Progressing",
      "drover has not observed generation " .. tostring(generation) .. " yet (status is of generation "
        .. tostring(status.observedGeneration) .. ")"
    )
  end
  local phase = status.phase or ""
  local step = status.step

  if phase == "Invalid" or is_true(status, "Invalid") then
    return result("Degraded", "Invalid spec: " .. message_of(status, { "Invalid", "Ready" }, "see the Invalid condition"))
  end
  if phase == "Suspended" or (obj.spec ~= nil and obj.spec.suspend == true) then
    local text = "spec.suspend is set: drover plans and reports but executes nothing"
    if step ~= nil then
      text = text .. " (next: " .. step .. ")"
    end
    return result("Suspended", text)
  end
  if is_true(status, "DataLossConfirmationRequired") then
    return result("Degraded", data_loss(status))
  end
  if is_true(status, "SiteLostConfirmationRequired") then
    return result("Degraded", site_lost(status))
  end
  if phase == "AwaitingConfirmation" then
    return result("Degraded", "Waiting for a person's confirmation: " .. (step or "see the status"))
  end
  if is_true(status, "Conflict") then
    return result("Degraded", "Conflict: " .. message_of(status, { "Conflict" }, "see the Conflict condition"))
  end
  if moving[phase] then
    local degraded = find(status, "Degraded")
    if degraded ~= nil and degraded.status == "True" and degraded.reason == "StepFailed" then
      return result("Degraded", phase .. ": " .. message_of(status, { "Degraded" }, "a step failed"))
    end
    return result("Progressing", phase .. ": " .. (step or message_of(status, { "Progressing" }, "in progress")))
  end
  if is_true(status, "Ready") then
    return result("Healthy", message_of(status, { "Ready" }, phase))
  end
  if phase == "Unmanaged" and not is_true(status, "Degraded") then
    return result("Healthy", "Cluster type EXTERNAL: observed only; fail over through the cluster manager")
  end
  if phase == "Degraded" or phase == "Waiting" or phase == "Unmanaged" or is_true(status, "Degraded") then
    local text = message_of(status, { "Degraded", "Ready" }, phase)
    if step ~= nil and not string.find(text, step, 1, true) then
      text = step .. "; " .. text
    end
    return result("Degraded", text)
  end
  return result("Progressing", "Phase " .. (phase ~= "" and phase or "unknown") .. ": " .. (step or "waiting for drover"))
end

return health(obj)

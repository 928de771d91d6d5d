-- Argo CD health for airlock's kinds (PackageRequest, SageMakerDomain, ScanPolicy,
-- PackageRepository). They share kstatus conditions, so one script serves all four. Wire it into
-- argocd-cm once per kind, e.g.:
--   resource.customizations.health.airlock.dev_PackageRequest: |
--     <this file>
local hs = { status = "Progressing", message = "Waiting for the airlock controller" }
if obj.status == nil then
  return hs
end
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < generation then
  hs.message = "Waiting for the controller to observe generation " .. generation
  return hs
end

local conditions = {}
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    conditions[c.type] = c
  end
end
local function msg(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

local phase = obj.status.phase
if phase == "Rejected" or phase == "Quarantined" then
  hs.status = "Degraded"
  hs.message = msg(conditions["Denied"] or conditions["Ready"], phase)
  return hs
end
if phase == "AwaitingApproval" then
  hs.status = "Suspended"
  hs.message = msg(conditions["Reconciling"], "Waiting for an approver: airlock approve / airlock deny")
  return hs
end

local stalled = conditions["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = msg(stalled, "Stalled")
  return hs
end
local ready = conditions["Ready"]
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = msg(ready, "Ready")
  return hs
end
local reconciling = conditions["Reconciling"]
hs.message = msg(reconciling, msg(ready, hs.message))
return hs

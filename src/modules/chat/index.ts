import { join } from 'node:path'
import { defineModule } from '../../sdk/index.ts'
import { loadCipherSuite } from './crypto.ts'
import { CHAT_DB_FILE } from './constants.ts'
import { ChatParamsError } from './errors.ts'
import { ChatService } from './service.ts'
import { ChatStore } from './store.ts'

export { ChatParamsError, ChatUnknownConversationError, ChatPeerUnknownError, ChatConversationStateError, ChatStoreError } from './errors.ts'
export type { MessageView, MemberView } from './service.ts'
export { inboxTopic, introTopic, conversationTopic } from './wire.ts'

function groupTimers (raw: unknown): Record<string, number> {
  if (raw === undefined) return {}
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || !Object.values(raw).every(v => typeof v === 'number')) throw new ChatParamsError('chat config: "groupTimers" must be an object of numbers (ms)')
  return raw as Record<string, number>
}

/**
 * The `chat` module (after logos-chat-module's chat_module.lidl): 1:1 conversations are two-member MLS groups
 * carried by the delivery module (RLN-protected, stored), group conversations are De-MLS groups run by the demls
 * module, and invites reach an identity through its inbox, the content topic /logos-chat/1/{address}/proto.
 * Conversations, MLS states and messages are kept in the module's SQLite file, so a restart keeps history.
 * Config: `groupTimers` (De-MLS timers of the groups this node creates). See docs/chat.md.
 */
export const chat = defineModule({
  events: {
    message_received: { description: '{ conversationId, messageId, sender, content, sentAt }' },
    conversation_created: { description: '{ conversationId, kind: direct | group, name, peer?, initiator }' },
    members_changed: { description: '{ conversationId, epoch, members: [{ memberId, address }] }' },
    delivery_state_changed: { description: '{ conversationId, messageId, state: propagated | sent | failed, error? }' }
  },
  async start (ctx) {
    const store = new ChatStore(join(ctx.dataDir, CHAT_DB_FILE))
    let service: ChatService
    try {
      service = new ChatService(ctx, store, await loadCipherSuite(), groupTimers(ctx.config.groupTimers))
      await service.start()
    } catch (err) {
      store.close()
      throw err
    }
    return {
      methods: {
        init: {
          description: 'Publishes this identity\'s intro (key package) so peers can open conversations; { address, introPublished }',
          handler: async (p: { force?: boolean } | undefined) => await service.init({ force: p?.force === true })
        },
        getAddress: { description: 'This identity\'s address (40 hex characters)', handler: () => service.address },
        createConversation: {
          description: 'Opens a 1:1 conversation with { peer } (an address); { conversationId }',
          handler: async (p: { peer: string }) => await service.createConversation(p?.peer)
        },
        createGroupConversation: {
          description: 'Creates a group conversation { name? } with this node as its only member; { conversationId }',
          handler: async (p: { name?: string } | undefined) => await service.createGroupConversation(p?.name)
        },
        addGroupMember: {
          description: 'Invites { conversationId, address } into a group (asynchronous: members_changed tells when it joined)',
          handler: async (p: { conversationId: string, address: string }) => await service.addGroupMember(p?.conversationId, p?.address)
        },
        sendMessage: {
          description: 'Sends { conversationId, content } (text); { messageId }; delivery_state_changed follows',
          handler: async (p: { conversationId: string, content: string }) => await service.sendMessage(p?.conversationId, p?.content)
        },
        listConversations: { description: 'Every conversation: { conversationId, kind, name, peer, status, createdAt, lastMessageAt }', handler: () => service.listConversations() },
        getMessages: {
          description: 'Messages of { conversationId, limit? (100), before? (seq) }, oldest first',
          handler: (p: { conversationId: string, limit?: number, before?: number }) => service.getMessages(p?.conversationId, p?.limit, p?.before)
        },
        listGroupMembers: {
          description: 'Members of { conversationId }: [{ memberId, address }] (address null until the member said hello)',
          handler: async (p: { conversationId: string }) => await service.listGroupMembers(p?.conversationId)
        }
      },
      stop: () => {
        service.stop()
        store.close()
      }
    }
  }
})
